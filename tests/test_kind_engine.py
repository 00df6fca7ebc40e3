"""The project's container engine for kind: what it asks of the host, and its capability-dropping runtime.

The generated runtime wrapper is run for real here, with a recording
executable in runc's place, on the files containerd's shim hands it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from clusters.kind import engine

# /proc/self/status of this machine: CapBnd lacks bit 24 (CAP_SYS_RESOURCE).
STATUS = "Name:\tpython3\nCapEff:\t000001fffeffffff\nCapBnd:\t000001fffeffffff\n"
FULL = "Name:\tpython3\nCapBnd:\t000001ffffffffff\n"


def test_missing_capabilities_are_the_bounding_set_gaps_up_to_the_kernels_last():
    assert engine.missing_capabilities(STATUS, last_cap=40) == ["CAP_SYS_RESOURCE"]
    assert engine.missing_capabilities(FULL, last_cap=40) == []
    assert engine.missing_capabilities("CapBnd:\t00000000ffffffff\n", last_cap=34) == [
        "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG"]


def test_the_daemon_shares_nothing_with_a_system_docker_and_leaves_host_networking_alone():
    config = engine.daemon_config(Path("/run/rcc-docker/rcc-runc"))
    assert config["hosts"] == [engine.DOCKER_HOST] and "/var/run/docker.sock" not in engine.DOCKER_HOST
    assert config["exec-root"].startswith(str(engine.ENGINE_DIR)) and config["pidfile"] == str(engine.PIDFILE)
    assert (config["iptables"], config["ip-forward"], config["ip-masq"], config["bridge"]) == (False, False, False,
                                                                                                 "none")
    assert config["default-runtime"] == engine.RUNTIME_NAME
    assert "runtimes" not in engine.daemon_config(None) and "default-runtime" not in engine.daemon_config(None)


def make_wrapper(tmp_path: Path) -> tuple[Path, Path]:
    """The generated wrapper around a stand-in runc that records its argv."""
    record = tmp_path / "runc-argv.json"
    fake_runc = tmp_path / "runc"
    fake_runc.write_text(f"#!{sys.executable}\nimport json, sys\n"
                         f"open({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n")
    fake_runc.chmod(0o755)
    wrapper = tmp_path / "rcc-runc"
    wrapper.write_text(engine.wrapper_script(sys.executable, str(fake_runc), ["CAP_SYS_RESOURCE"]))
    wrapper.chmod(0o755)
    return wrapper, record


CAPS = ["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_SYS_RESOURCE"]


def test_create_drops_the_missing_capability_from_the_bundle_and_runs_runc_unchanged(tmp_path):
    wrapper, record = make_wrapper(tmp_path)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    spec = {"ociVersion": "1.0.2", "process": {"args": ["sh"], "capabilities": {
        k: list(CAPS) for k in ("bounding", "effective", "permitted", "inheritable")}}}
    (bundle / "config.json").write_text(json.dumps(spec))
    argv = ["--root", "/run/x", "create", "--bundle", str(bundle), "--pid-file", "p", "ctr-id"]
    subprocess.run([str(wrapper), *argv], check=True)

    caps = json.loads((bundle / "config.json").read_text())["process"]["capabilities"]
    assert all(names == ["CAP_CHOWN", "CAP_SYS_ADMIN"] for names in caps.values())
    assert json.loads(record.read_text()) == argv


def test_exec_drops_it_from_the_process_file(tmp_path):
    wrapper, record = make_wrapper(tmp_path)
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"args": ["id"], "capabilities": {"bounding": list(CAPS), "effective": list(CAPS)}}))
    subprocess.run([str(wrapper), "exec", f"--process={process}", "ctr-id"], check=True)

    assert json.loads(process.read_text())["capabilities"]["effective"] == ["CAP_CHOWN", "CAP_SYS_ADMIN"]
    assert json.loads(record.read_text())[0] == "exec"


def test_other_commands_pass_through_untouched(tmp_path):
    wrapper, record = make_wrapper(tmp_path)
    subprocess.run([str(wrapper), "--root", "/run/x", "state", "ctr-id"], check=True)
    assert json.loads(record.read_text()) == ["--root", "/run/x", "state", "ctr-id"]


def test_down_without_a_running_engine_keeps_an_unfinished_hugetlb_duty(tmp_path, monkeypatch):
    engine_dir = tmp_path / "rcc-docker"
    engine_dir.mkdir()
    (engine_dir / "host.json").write_text(json.dumps({"mounted_hugetlb": True}))
    (engine_dir / "dockerd.log").write_text("old log\n")
    monkeypatch.setattr(engine, "ENGINE_DIR", engine_dir)
    monkeypatch.setattr(engine, "PIDFILE", engine_dir / "dockerd.pid")
    monkeypatch.setattr(engine, "_remove_engine_cgroups", lambda: None)
    still_used: list[bool] = [True]
    monkeypatch.setattr(engine, "_release_hugetlb", lambda progress: not still_used[0])

    engine.down(progress=lambda _: None)
    assert [p.name for p in engine_dir.iterdir()] == ["host.json"]

    still_used[0] = False
    engine.down(progress=lambda _: None)
    assert not engine_dir.exists()


def test_down_removes_the_empty_cgroups_under_the_engines_own_parent_and_nothing_else(tmp_path, monkeypatch):
    # Folders stand in for two v1 hierarchies: a file in a folder makes rmdir fail, as a process does.
    hugetlb, memory = tmp_path / "hugetlb", tmp_path / "memory"
    left_by_kubelet = hugetlb / engine.CGROUP_PARENT / "0123abcd" / "kubelet.slice" / "kubelet-kubepods.slice"
    left_by_kubelet.mkdir(parents=True)
    busy = memory / engine.CGROUP_PARENT / "4567ef" / "kubelet.slice"
    busy.mkdir(parents=True)
    (busy / "a-process").write_text("")
    others = hugetlb / "docker" / "a-user-container" / "kubelet.slice"
    others.mkdir(parents=True)
    monkeypatch.setattr(engine.host, "v1_controllers", lambda: [hugetlb, memory])
    monkeypatch.setattr(engine.host, "CGROUP_V2_HYBRID", tmp_path / "unified")

    engine._remove_engine_cgroups()
    assert not (hugetlb / engine.CGROUP_PARENT).exists()
    assert busy.is_dir(), "a cgroup with a process in it stays"
    assert others.is_dir(), "another engine's cgroups are not ours to remove"
