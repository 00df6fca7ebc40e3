"""A Docker engine for kind where none answers: Debian's dockerd, owned and undone by the project.

kind needs an engine. A user's Docker or podman that already answers ``docker
info`` is used as it is and never touched, restarted or reconfigured. Where
none answers, ``up`` installs Debian's ``docker.io`` (apt) if ``dockerd`` is
missing and starts a dockerd that shares nothing with a system one: its own
config file, socket, pidfile and exec-root under ``ENGINE_DIR``, its own
data-root in the project cache (so the built node image survives ``down``).
Clients reach it through ``DOCKER_HOST`` (``docker_env``), which kind and
pytest-kind-ng pass on to the ``docker`` CLI.

Host effects, chosen so that nothing leaves the machine and other clusters on
it keep working: ``iptables: false`` (dockerd then adds no chains, no
MASQUERADE and does not set the ``FORWARD`` policy to ``DROP``, which would cut
the local clusters' bridged Pod traffic), ``ip-forward: false`` (the host's
``net.ipv4.ip_forward`` stays as found), ``bridge: none`` (no ``docker0``).
Published ports (the kind API server's) go through ``docker-proxy`` on
127.0.0.1. ``down`` removes every container and network of this engine, stops
it, unmounts anything left under its folders and puts the ``FORWARD`` policy
and ``ip_forward`` back to what ``up`` recorded, in case anything changed them.

On a cgroup v1 hybrid host whose cgroup2 still owns ``hugetlb``, ``up`` mounts
the v1 ``hugetlb`` hierarchy (the local cluster's ``mount_hugetlb_if_needed``)
before any node starts: runc then places each node container in it, the node
sees its own part (private cgroupns) as it sees every other controller, and
crun inside the node accepts the hybrid layout. The engine's containers get
their own parent cgroup (``rcc-kind-engine``) in every hierarchy; ``down``
removes the empty cgroups left there (a kind node's kubelet makes some), then
unmounts hugetlb only if ``up`` mounted it and no cgroup is left in it (a local
cluster may use it).

Hosts whose capability bounding set lacks a capability (here
``CAP_SYS_RESOURCE``) cannot start ``--privileged`` containers: runc asks for
every capability and the kernel refuses. There the engine's default OCI
runtime is a generated wrapper (``wrapper_script``) that removes the missing
capabilities from the bundle's ``config.json`` (``create --bundle``) and from
``exec --process`` files, then executes runc. kind and pytest-kind-ng stay
unpatched. On a host with the full set runc is used directly.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from clusters.toolbox import host
from clusters.toolbox.binaries import default_cache_dir
from clusters.toolbox.errors import ClusterError
from clusters.capabilities import missing_capabilities, wrapper_script  # noqa: F401 (also this module's API)

ENGINE_DIR = Path("/run/rcc-docker")
SOCKET = ENGINE_DIR / "docker.sock"
DOCKER_HOST = f"unix://{SOCKET}"
PIDFILE = ENGINE_DIR / "dockerd.pid"
RUNTIME_NAME = "rcc-runc"
START_TIMEOUT = 90.0
CGROUP_PARENT = "rcc-kind-engine"

Progress = Callable[[str], None]


def data_root() -> Path:
    """Images and layers; kept across ``down`` so a built node image is loaded once."""
    return default_cache_dir() / "docker"


def daemon_config(runtime_path: Path | None) -> dict:
    """dockerd's ``--config-file``: every path its own, no iptables, no forwarding, no docker0."""
    config: dict = {
        "data-root": str(data_root()),
        "exec-root": str(ENGINE_DIR / "exec"),
        "pidfile": str(PIDFILE),
        "hosts": [DOCKER_HOST],
        "iptables": False,
        "ip-forward": False,
        "ip-masq": False,
        "bridge": "none",
        "storage-driver": "overlay2",
        # Its own parent cgroup in every hierarchy, so `down` can tell its cgroups from those of
        # any other engine on the host (which use `docker`) and remove what its containers leave.
        "cgroup-parent": f"/{CGROUP_PARENT}",
        "log-level": "warn",
    }
    if runtime_path is not None:
        config["runtimes"] = {RUNTIME_NAME: {"path": str(runtime_path)}}
        config["default-runtime"] = RUNTIME_NAME
    return config


def answers(env: Mapping[str, str]) -> bool:
    """Whether ``docker info`` succeeds with this environment."""
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], env=dict(env), capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ours_running() -> int | None:
    """The pid of the project's dockerd, when it runs."""
    try:
        pid = int(PIDFILE.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def docker_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment under which ``docker`` (and kind) reach an engine.

    The caller's own engine wins; else the project's engine when it runs; else
    the environment unchanged (and ``docker info`` fails).
    """
    env = dict(os.environ if environ is None else environ)
    if "DOCKER_HOST" not in env and not answers(env) and ours_running() and SOCKET.exists():
        env["DOCKER_HOST"] = DOCKER_HOST
    return env


def up(progress: Progress = print) -> dict[str, str]:
    """Make sure an engine answers; return the environment variables a client needs (none for a user's)."""
    if ours_running():
        if answers({**os.environ, "DOCKER_HOST": DOCKER_HOST}):
            progress(f"engine: the project's dockerd already runs ({DOCKER_HOST})")
            return {"DOCKER_HOST": DOCKER_HOST}
        raise ClusterError(f"the project's dockerd (pid {ours_running()}) does not answer on {SOCKET}; "
                           "run `python -m clusters.kind engine down` and retry")
    if answers(os.environ):
        progress("engine: an engine already answers `docker info`; using it untouched")
        return {}
    if os.geteuid() != 0:
        raise ClusterError("no container engine answers `docker info` and starting one needs root; "
                           "start Docker or podman, or run as root")
    _install()
    ENGINE_DIR.mkdir(parents=True, exist_ok=True)
    _record_host()
    if host.mount_hugetlb_if_needed():
        _update_record(mounted_hugetlb=True)
        progress(f"engine: mounted the v1 hugetlb cgroup at {host.HUGETLB} (hybrid host)")
    runtime = _write_runtime_wrapper()
    config = ENGINE_DIR / "daemon.json"
    config.write_text(json.dumps(daemon_config(runtime), indent=2) + "\n")
    log = (ENGINE_DIR / "dockerd.log").open("ab")
    progress(f"engine: starting dockerd on {DOCKER_HOST} (data-root {data_root()}"
             + (f", runtime {RUNTIME_NAME} without {', '.join(missing_capabilities())})" if runtime else ")"))
    proc = subprocess.Popen(["dockerd", "--config-file", str(config)], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    env = {**os.environ, "DOCKER_HOST": DOCKER_HOST}
    deadline = time.monotonic() + START_TIMEOUT
    while not answers(env):
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = (ENGINE_DIR / "dockerd.log").read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            _stop(proc.pid)
            raise ClusterError(f"dockerd did not answer within {START_TIMEOUT:.0f}s: {tail[0][:300]}")
        time.sleep(1)
    progress(f"engine: dockerd answers (pid {proc.pid}); clients need DOCKER_HOST={DOCKER_HOST}")
    return {"DOCKER_HOST": DOCKER_HOST}


def down(progress: Progress = print, purge: bool = False) -> None:
    """Remove every container and network of the project's engine, stop it, undo its host effects."""
    pid = ours_running()
    if pid is None:
        progress("engine: the project's dockerd is not running; nothing to stop")
    else:
        env = {**os.environ, "DOCKER_HOST": DOCKER_HOST}
        ids = _docker(env, "ps", "-aq").split()
        if ids:
            progress(f"engine: removing {len(ids)} container(s)")
            _docker(env, "rm", "-f", "-v", *ids)
        _docker(env, "network", "prune", "-f")
        _docker(env, "volume", "prune", "-f")
        progress(f"engine: stopping dockerd (pid {pid})")
        _stop(pid)
    _unmount_under(ENGINE_DIR, data_root())
    _remove_engine_cgroups()
    if _restore_host(progress):
        # A duty left (hugetlb still used by another cluster): keep only its record for the next `down`.
        for entry in ENGINE_DIR.iterdir():
            if entry.name != "host.json":
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
    else:
        shutil.rmtree(ENGINE_DIR, ignore_errors=True)
    if purge:
        progress(f"engine: removing its data-root {data_root()}")
        shutil.rmtree(data_root(), ignore_errors=True)


def status() -> dict:
    """Which engine kind would use, as a dict for printing."""
    pid = ours_running()
    return {
        "user_engine": answers({k: v for k, v in os.environ.items()}) if pid is None else None,
        "project_engine_pid": pid,
        "docker_host": DOCKER_HOST if pid else None,
        "data_root": str(data_root()),
        "runtime_wrapper_drops": missing_capabilities(),
    }


def _install() -> None:
    if shutil.which("dockerd") and shutil.which("docker"):
        return
    if shutil.which("apt-get") is None:
        raise ClusterError("no container engine answers and dockerd is not installed; install Docker and retry")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "docker.io"]):
        if subprocess.run(argv, env=env, capture_output=True).returncode != 0:
            raise ClusterError(f"`{' '.join(argv)}` failed; install docker.io by hand and retry")


def _write_runtime_wrapper() -> Path | None:
    drop = missing_capabilities()
    if not drop:
        return None
    runc = shutil.which("runc")
    if runc is None:
        raise ClusterError("runc is not installed (Debian's docker.io depends on it); apt-get install runc")
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    path = ENGINE_DIR / RUNTIME_NAME
    path.write_text(wrapper_script(python, runc, drop))
    path.chmod(0o755)
    return path


def _record_host() -> None:
    """What dockerd could change on the host, kept so ``down`` can put it back.

    A hugetlb duty an earlier ``down`` could not finish is carried over.
    """
    try:
        earlier = json.loads((ENGINE_DIR / "host.json").read_text())
    except (OSError, ValueError):
        earlier = {}
    record = {"forward_policy": _forward_policy(),
              "ip_forward": Path("/proc/sys/net/ipv4/ip_forward").read_text().strip(),
              "mounted_hugetlb": bool(earlier.get("mounted_hugetlb"))}
    (ENGINE_DIR / "host.json").write_text(json.dumps(record) + "\n")


def _update_record(**fields: object) -> None:
    path = ENGINE_DIR / "host.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}) + "\n")


def _restore_host(progress: Progress) -> bool:
    """Undo what ``up`` recorded; True when a duty is left (hugetlb still in use elsewhere)."""
    try:
        record = json.loads((ENGINE_DIR / "host.json").read_text())
    except (OSError, ValueError):
        return False
    left = bool(record.get("mounted_hugetlb")) and not _release_hugetlb(progress)
    if record.get("forward_policy") and _forward_policy() != record["forward_policy"]:
        progress(f"engine: restoring the iptables FORWARD policy {record['forward_policy']}")
        subprocess.run(["iptables", "-P", "FORWARD", record["forward_policy"]], capture_output=True)
    if record.get("ip_forward") and Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() != record["ip_forward"]:
        progress(f"engine: restoring net.ipv4.ip_forward={record['ip_forward']}")
        Path("/proc/sys/net/ipv4/ip_forward").write_text(record["ip_forward"] + "\n")
    if left:
        (ENGINE_DIR / "host.json").write_text(json.dumps({"mounted_hugetlb": True}) + "\n")
    return left


def _release_hugetlb(progress: Progress) -> bool:
    """Unmount the hugetlb hierarchy ``up`` mounted once no cgroup is left in it; False while one is.

    Called by ``down`` after it removed this engine's empty cgroups (`_remove_engine_cgroups`).
    """
    if not host.HUGETLB.is_dir():
        return True
    if any(p.is_dir() for p in host.HUGETLB.iterdir()):
        progress(f"engine: {host.HUGETLB} still holds cgroups of another cluster; leaving it mounted "
                 "(the next `engine down` unmounts it once they are gone)")
        return False
    host.unmount_hugetlb()
    progress(f"engine: unmounted the v1 hugetlb cgroup at {host.HUGETLB}")
    return True


def _remove_engine_cgroups() -> None:
    """The cgroups this engine's containers leave under its parent, in every hierarchy, deepest first.

    Removing a kind node container leaves behind, in the v1 hierarchies, the empty cgroups its
    kubelet made (`kubelet.slice/...`); in the hugetlb hierarchy `up` mounted they kept `down`
    from unmounting it. Only empty cgroups can be removed (rmdir fails on one with a process),
    and only under this engine's own parent. The empty ``docker`` parent of earlier versions goes too.
    """
    for hierarchy in [*host.v1_controllers(), host.CGROUP_V2_HYBRID]:
        parent = hierarchy / CGROUP_PARENT
        if parent.is_dir():
            for folder in sorted((p for p in parent.rglob("*") if p.is_dir()), key=lambda p: len(p.parts),
                                 reverse=True):
                _rmdir(folder)
            _rmdir(parent)
        _rmdir(hierarchy / "docker")


def _rmdir(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


def _forward_policy() -> str | None:
    try:
        out = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True).stdout
    except OSError:
        return None
    return next((line.split()[2] for line in out.splitlines() if line.startswith("-P FORWARD")), None)


def _docker(env: Mapping[str, str], *args: str) -> str:
    result = subprocess.run(["docker", *args], env=dict(env), capture_output=True, text=True, timeout=300)
    return result.stdout


def _stop(pid: int, timeout: float = 60) -> None:
    """SIGTERM, then SIGKILL: dockerd stops its containerd and unmounts its layers on SIGTERM."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        _reap(pid)
        time.sleep(0.5)
    os.kill(pid, signal.SIGKILL)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _unmount_under(*roots: Path) -> None:
    """Mounts a killed dockerd can leave (overlay layers, netns files, shm), deepest first."""
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    prefixes = tuple(str(r) + "/" for r in roots)
    for target in sorted((m for m in mounts if m.startswith(prefixes)), key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True)
