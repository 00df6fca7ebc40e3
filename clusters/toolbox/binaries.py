"""Where the local cluster's executables come from, and building the missing ones.

Order of sources, per binary: a folder the user names (`RCC_BIN_DIR`, e.g.
unpacked official release tarballs), else the cache folder keyed by component
and version, else `go build` from the Go module proxy into that cache. OCI
runtimes and CNI plugins come from Debian packages. One `go build` per
component builds all its commands at once so they share compiled packages.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from clusters.toolbox.errors import ClusterError

CONTAINERD_VERSION = "v2.4.2"
ETCD_VERSION = "v3.6.7"
CRI_TOOLS_VERSION = "v1.37.0"

CNI_DIRS = (Path("/usr/lib/cni"), Path("/opt/cni/bin"))
CNI_PLUGINS = ("bridge", "host-local", "loopback")
DEBIAN_PACKAGES = ("crun containernetworking-plugins busybox-static iptables gcc libc6-dev libseccomp-dev pkg-config "
                   "patch conmon skopeo")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class GoComponent:
    """One upstream Go module whose commands are built together."""

    name: str
    module: str
    version: str
    commands: dict[str, str]  # binary name -> package path
    ldflags: str = ""
    pins_kubernetes_staging: bool = False
    cgo: bool = False
    tags: str = ""
    # Reviewed patches (`patch -p1`, paths relative to the module root) applied to a copy of
    # the module's source before building; each patched set gets its own cache key.
    patches: tuple[Path, ...] = ()
    # C programs shipped in the module, built with gcc: binary name -> folder of .c files.
    c_programs: tuple[tuple[str, str], ...] = ()
    # Start from the module's own go.sum: some of its dependencies (pseudo-versions) are
    # unknown to the checksum database reachable here, so `go get` could not verify them.
    own_sums: bool = False
    # Appended to each binary's name in `Binaries` (not on disk): a second version of a component
    # (containerd@v1.7.35) sits beside the default one, whose files keep the names callers look up.
    alias: str = ""

    @property
    def key(self) -> str:
        if not self.patches:
            return f"{self.name}-{self.version}"
        digest = hashlib.sha256(b"".join(p.read_bytes() for p in self.patches)).hexdigest()[:12]
        return f"{self.name}-{self.version}-patched-{digest}"

    @property
    def binaries(self) -> tuple[str, ...]:
        return (*self.commands, *(name for name, _ in self.c_programs))


def kubernetes_component(version: str) -> GoComponent:
    major, minor = version.lstrip("v").split(".")[:2]
    stamp = " ".join(
        f"-X {pkg}.{var}"
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for var in (f"gitVersion={version}", f"gitMajor={major}", f"gitMinor={minor}", "gitTreeState=clean")
    )
    commands = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kubectl")
    return GoComponent(
        name="kubernetes",
        module="k8s.io/kubernetes",
        version=version,
        commands={c: f"k8s.io/kubernetes/cmd/{c}" for c in commands},
        ldflags=f"-s -w {stamp}",
        pins_kubernetes_staging=True,
    )


CONTAINERD_COMMANDS = ("containerd", "containerd-shim-runc-v2", "ctr")


def containerd_module(version: str) -> str:
    """containerd 1.x is the module github.com/containerd/containerd; 2.x added the /v2 suffix."""
    major = version.lstrip("v").split(".", 1)[0]
    return "github.com/containerd/containerd" if major == "1" else f"github.com/containerd/containerd/v{major}"


def containerd_component(version: str = CONTAINERD_VERSION) -> GoComponent:
    """containerd, its runc shim and ctr at `version`, cached as containerd-<version>.

    The cluster's default version is built under the plain names (`containerd`, `ctr`, …); a
    node that asks for another version (`containerdVersion:` in the topology) gets the same
    commands under versioned names (`containerd@v1.7.35`), so two versions live side by side.
    """
    module = containerd_module(version)
    return GoComponent(
        name="containerd",
        module=module,
        version=version,
        commands={c: f"{module}/cmd/{c}" for c in CONTAINERD_COMMANDS},
        ldflags=f"-s -w -X {module}/version.Version={version}",
        alias="" if version == CONTAINERD_VERSION else f"@{version}",
    )


def kubernetes_node_component(version: str) -> GoComponent:
    """kubeadm and kube-proxy, under their own key beside `kubernetes-<version>`.

    The local cluster runs kubeadm's certificate and kubeconfig phases (clusters/local/pki.py);
    the kind node image ships both. One build and one cache entry serve the two.
    """
    base = kubernetes_component(version)
    return GoComponent(name="kubernetes-node", module=base.module, version=version,
                       commands={c: f"k8s.io/kubernetes/cmd/{c}" for c in ("kubeadm", "kube-proxy")},
                       ldflags=base.ldflags, pins_kubernetes_staging=True)


def support_components() -> tuple[GoComponent, ...]:
    return (
        containerd_component(),
        GoComponent(name="etcd", module="go.etcd.io/etcd/server/v3", version=ETCD_VERSION,
                    commands={"etcd": "go.etcd.io/etcd/server/v3"}, ldflags="-s -w"),
        GoComponent(name="cri-tools", module="sigs.k8s.io/cri-tools", version=CRI_TOOLS_VERSION,
                    commands={"crictl": "sigs.k8s.io/cri-tools/cmd/crictl"},
                    ldflags=f"-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version={CRI_TOOLS_VERSION}"),
    )


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of every executable the local cluster runs."""

    paths: dict[str, Path]
    cni_dir: Path

    def __getitem__(self, name: str) -> Path:
        return self.paths[name]

    @property
    def search_path(self) -> str:
        """PATH for containerd: it finds its shim by name, next to itself."""
        dirs = dict.fromkeys(str(p.parent) for p in self.paths.values())
        return os.pathsep.join([*dirs, "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"])


def default_cache_dir() -> Path:
    explicit = os.environ.get("RCC_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "runtimeclass-conformance"


def ensure_binaries(kubernetes_version: str, runtime_binaries: set[str], cache_dir: Path | None = None,
                    user_dir: Path | None = None, progress: Progress = print,
                    extra: tuple[GoComponent, ...] = ()) -> Binaries:
    """Locate or build everything; raise ClusterError naming what is missing.

    `runtime_binaries` are the absolute paths of OCI runtimes taken from the host; `extra` are the
    components the topology's OCI runtimes and CRIs need (runc, gVisor, CRI-O…), built only then.
    """
    cache_dir = cache_dir or default_cache_dir()
    user_dir = user_dir or (Path(os.environ["RCC_BIN_DIR"]) if os.environ.get("RCC_BIN_DIR") else None)
    paths: dict[str, Path] = {}
    for component in (kubernetes_component(kubernetes_version), kubernetes_node_component(kubernetes_version),
                      *support_components(), *extra):
        paths.update(ensure_component(component, cache_dir, user_dir, progress))
    for binary in sorted(runtime_binaries):
        if not os.access(binary, os.X_OK):
            raise ClusterError(f"OCI runtime {binary} is missing; run: apt-get install -y {DEBIAN_PACKAGES}")
    return Binaries(paths=paths, cni_dir=_cni_dir())


def _cni_dir() -> Path:
    for folder in CNI_DIRS:
        if all((folder / p).exists() for p in CNI_PLUGINS):
            return folder
    raise ClusterError(f"CNI plugins {', '.join(CNI_PLUGINS)} not found in {', '.join(map(str, CNI_DIRS))}; "
                       f"run: apt-get install -y containernetworking-plugins")


def ensure_component(component: GoComponent, cache_dir: Path, user_dir: Path | None,
                      progress: Progress) -> dict[str, Path]:
    if user_dir and not component.alias and all((user_dir / c).exists() for c in component.binaries):
        progress(f"binaries: {component.name} from {user_dir}")
        return {c: user_dir / c for c in component.binaries}
    out = cache_dir / "bin" / component.key
    if not (out / ".complete").exists():
        _go_build(component, cache_dir / "build" / component.key, out, progress)
    else:
        progress(f"binaries: {component.key} cached in {out}")
    return {f"{c}{component.alias}": out / c for c in component.binaries}


def _fresh_partial(out: Path) -> Path:
    """A fresh `<out>.partial` for a build to write into: only `_publish` makes it `out`, so a
    build killed half-way never leaves a folder that looks cached."""
    tmp_out = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp_out, ignore_errors=True)
    tmp_out.mkdir(parents=True)
    return tmp_out


def _publish(tmp_out: Path, out: Path, workdir: Path, version: str) -> None:
    """Mark the build complete (`.complete` holds its version), swap it in whole for any older
    `out`, and drop the build's work folder: the one end of every build, cached or not."""
    (tmp_out / ".complete").write_text(version + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp_out.rename(out)
    shutil.rmtree(workdir, ignore_errors=True)


def _go_build(component: GoComponent, workdir: Path, out: Path, progress: Progress) -> None:
    if not shutil.which("go"):
        raise ClusterError(f"{component.key} is not cached and `go` is not installed; install Go, "
                           f"or set RCC_BIN_DIR to a folder holding {', '.join(component.commands)}")
    progress(f"binaries: building {component.key} with go build (cold build, several minutes)")
    started = time.monotonic()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    env = {**os.environ, "CGO_ENABLED": "1" if component.cgo else "0", "GOFLAGS": "-mod=mod -buildvcs=false"}
    run = _runner(component, workdir, env)
    run("go", "mod", "init", f"rcc.build/{component.name}")
    if component.pins_kubernetes_staging:
        _pin_kubernetes_staging(component, workdir, run)
    if component.patches:
        _patched_source(component, workdir, run)
    if component.own_sums or component.c_programs:
        source = Path(json.loads(run("go", "mod", "download", "-json",
                                     f"{component.module}@{component.version}"))["Dir"])
    if component.own_sums:
        shutil.copyfile(source / "go.sum", workdir / "go.sum")
    run("go", "get", *(f"{pkg}@{component.version}" for pkg in component.commands.values()))
    tmp_out = _fresh_partial(out)
    for name, pkg in component.commands.items():
        # One build per command (etcd's package path ends in /v3, so names are set
        # explicitly); the Go build cache lets each reuse what the previous compiled.
        run("go", "build", "-trimpath", f"-tags={component.tags}", "-ldflags", component.ldflags,
            "-o", str(tmp_out / name), pkg)
    for name, folder in component.c_programs:
        run("gcc", "-std=c99", "-Os", "-static", "-s", "-o", str(tmp_out / name),
            *sorted(str(c) for c in (source / folder).glob("*.c")))
    # The cold build's seconds, kept beside it: bench/matrix.py reports them for a cell found cached.
    (tmp_out / ".build-seconds").write_text(f"{time.monotonic() - started:.0f}\n")
    _publish(tmp_out, out, workdir, component.version)
    progress(f"binaries: built {component.key} into {out}")


def _runner(component: GoComponent, workdir: Path, env: dict[str, str]) -> Callable[..., str]:
    log = workdir / "build.log"

    def run(*argv: str) -> str:
        with log.open("a") as sink:
            sink.write(f"$ {' '.join(argv)}\n")
            sink.flush()
            result = subprocess.run(argv, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=sink, text=True)
        if result.returncode != 0:
            raise ClusterError(f"building {component.key} failed at `{' '.join(argv[:3])}`; see {log} "
                               f"(build dependencies: apt-get install -y {DEBIAN_PACKAGES})")
        return result.stdout

    return run


def _patched_source(component: GoComponent, workdir: Path, run: Callable[..., str]) -> None:
    """Copy the module's source next to the build, apply the patches, and build from the copy."""
    info = json.loads(run("go", "mod", "download", "-json", f"{component.module}@{component.version}"))
    source = workdir / "src"
    shutil.copytree(info["Dir"], source)
    for path in source.rglob("*"):  # the module cache is read-only
        path.chmod(path.stat().st_mode | 0o200)
    source.chmod(source.stat().st_mode | 0o200)
    for patch in component.patches:
        run("patch", "-p1", "--batch", "--forward", "--directory", str(source), "--input", str(patch.resolve()))
    with (workdir / "go.mod").open("a") as gomod:
        gomod.write(f"\nreplace {component.module} => ./src\n")


def _pin_kubernetes_staging(component: GoComponent, workdir: Path, run: Callable[..., str]) -> None:
    """k8s.io/kubernetes replaces its staging modules with local folders; pin each to v0.X.Y instead."""
    info = json.loads(run("go", "mod", "download", "-json", f"{component.module}@{component.version}"))
    staging_version = "v0." + component.version.lstrip("v").split(".", 1)[1]
    upstream_mod = Path(info["GoMod"]).read_text()
    pins = [
        f"replace {line.split()[0]} => {line.split()[0]} {staging_version}"
        for line in upstream_mod.splitlines()
        if "=> ./staging/" in line
    ]
    with (workdir / "go.mod").open("a") as gomod:
        gomod.write("\n" + "\n".join(pins) + "\n")


def ensure_e2e_test(kubernetes_version: str, cache_dir: Path | None = None, progress: Progress = print) -> Path:
    """Upstream's e2e test binary (`go test -c k8s.io/kubernetes/test/e2e`), cached as kubernetes-e2e-<version>.

    Not part of the cluster: `bench/compare_upstream.py` runs it against one. The build
    takes long (one big test binary); its seconds are kept in `.build-seconds` beside it.
    """
    cache_dir = cache_dir or default_cache_dir()
    base = kubernetes_component(kubernetes_version)
    component = GoComponent(name="kubernetes-e2e", module=base.module, version=kubernetes_version,
                            commands={"e2e.test": "k8s.io/kubernetes/test/e2e"}, ldflags=base.ldflags,
                            pins_kubernetes_staging=True)
    out = cache_dir / "bin" / component.key
    if (out / ".complete").exists():
        progress(f"binaries: {component.key} cached in {out}")
        return out / "e2e.test"
    if not shutil.which("go"):
        raise ClusterError(f"{component.key} is not cached and `go` is not installed")
    progress(f"binaries: building {component.key} with go test -c (cold build, tens of minutes)")
    started = time.monotonic()
    workdir = cache_dir / "build" / component.key
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod -buildvcs=false"}
    run = _runner(component, workdir, env)
    run("go", "mod", "init", f"rcc.build/{component.name}")
    _pin_kubernetes_staging(component, workdir, run)
    run("go", "get", f"{component.module}@{component.version}")
    tmp_out = _fresh_partial(out)
    # -vet=off: vet checks the test sources, which a binary build does not need.
    run("go", "test", "-c", "-vet=off", "-trimpath", "-ldflags", component.ldflags,
        "-o", str(tmp_out / "e2e.test"), component.commands["e2e.test"])
    seconds = time.monotonic() - started
    (tmp_out / ".build-seconds").write_text(f"{seconds:.0f}\n")
    _publish(tmp_out, out, workdir, component.version)
    progress(f"binaries: built {component.key} into {out} in {seconds:.0f} s")
    return out / "e2e.test"
