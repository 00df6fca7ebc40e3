"""gVisor as a local-cluster runtime: how it is built, patched and written into containerd's config.

The Pods it runs are checked for real in tests/test_local_cluster.py and by the suite
(`gvisor` handler of the default topology); here is the pure logic around them, and one
real check that the reviewed patch still applies to the pinned gVisor source.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from clusters.toolbox.binaries import Binaries
from clusters.toolbox.errors import ClusterError
from clusters.toolbox.runtimes import RUNTIMES, runtime_for
from clusters.toolbox.runtimes.runsc import (GVISOR_MODULE, GVISOR_VERSION, SHIM_BINARY, SHIM_OOM_PATCH,
                                           gvisor_component)
from clusters.toolbox.topology_records import Runtime

RUNSC = Runtime(name="runsc", binary="runsc", type="runsc", isolation="user-space-kernel")


@pytest.fixture
def built(tmp_path: Path) -> Binaries:
    """Stand-ins for the two built binaries: only their paths matter to the config."""
    folder = tmp_path / "cache"
    folder.mkdir()
    for name in ("runsc", SHIM_BINARY):
        (folder / name).write_text("#!/bin/sh\n")
    return Binaries(paths={"runsc": folder / "runsc", SHIM_BINARY: folder / SHIM_BINARY}, cni_dir=tmp_path)


def test_the_shim_is_patched_only_where_the_host_lacks_cap_sys_resource():
    patched, upstream = gvisor_component(needs_oom_patch=True), gvisor_component(needs_oom_patch=False)
    assert patched.patches == (SHIM_OOM_PATCH,) and upstream.patches == ()
    assert upstream.key == f"gvisor-{GVISOR_VERSION}"
    assert patched.key.startswith(f"gvisor-{GVISOR_VERSION}-patched-") and patched.key != upstream.key
    # containerd looks the shim up by the name its runtime_type implies.
    assert set(patched.commands) == {"runsc", "containerd-shim-runsc-v1"}


def test_containerd_runs_runsc_through_gvisors_shim_with_a_runsc_toml_of_this_cluster(tmp_path, built):
    runtime = runtime_for(RUNSC)
    assert RUNTIMES["runsc"] is runtime
    path = runtime.executable(RUNSC, built, tmp_path / "runtimes")
    table = runtime.containerd_table(path)
    assert table["runtime_type"] == "io.containerd.runsc.v1"
    assert Path(table["runtime_path"]).resolve() == built[SHIM_BINARY]
    assert table["options"]["TypeUrl"] == "io.containerd.runsc.v1.options"
    shim_config = tomllib.loads(Path(table["options"]["ConfigPath"]).read_text())
    assert Path(shim_config["binary_name"]).resolve() == built["runsc"]
    # runsc's state stays inside the cluster's folder, never the host-wide /run/containerd/runsc.
    assert Path(shim_config["root"]).is_relative_to(tmp_path / "runtimes")
    assert shim_config["runsc_config"] == {"platform": "systrap"}


def test_writing_the_runtime_twice_gives_the_same_files(tmp_path, built):
    runtime = runtime_for(RUNSC)
    first = runtime.executable(RUNSC, built, tmp_path)
    config = first.with_name("runsc.toml").read_text()
    assert runtime.executable(RUNSC, built, tmp_path) == first
    assert first.with_name("runsc.toml").read_text() == config


def test_a_host_runsc_without_its_shim_beside_it_is_one_clear_error(tmp_path, built):
    host_runsc = tmp_path / "bin" / "runsc"
    host_runsc.parent.mkdir()
    host_runsc.write_text("#!/bin/sh\n")
    runtime = Runtime(name="host-gvisor", binary=str(host_runsc), type="runsc", isolation="user-space-kernel")
    with pytest.raises(ClusterError, match="containerd-shim-runsc-v1 is missing"):
        runtime_for(runtime).executable(runtime, built, tmp_path / "runtimes")


def test_runsc_on_cri_o_says_it_is_not_supported_yet(tmp_path):
    with pytest.raises(ClusterError, match="not supported .* yet"):
        runtime_for(RUNSC).crio_table(tmp_path / "runsc", tmp_path / "root")


@pytest.mark.skipif(not shutil.which("go") or not shutil.which("patch"),
                    reason="missing capability go and patch: needed to fetch and patch gVisor's source")
def test_the_oom_score_patch_applies_to_the_pinned_gvisor_source(tmp_path):
    result = subprocess.run(["go", "mod", "download", "-json", f"{GVISOR_MODULE}@{GVISOR_VERSION}"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    source = tmp_path / "src"
    manager = source / "pkg/shim/v1/manager.go"
    manager.parent.mkdir(parents=True)
    shutil.copyfile(Path(json.loads(result.stdout)["Dir"]) / "pkg/shim/v1/manager.go", manager)
    applied = subprocess.run(["patch", "-p1", "--batch", "--forward", "--directory", str(source),
                              "--input", str(SHIM_OOM_PATCH)], capture_output=True, text=True)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    text = manager.read_text()
    assert "shim.AdjustOOMScore(cmd.Process.Pid)" in text and "oomScoreMax);" not in text
