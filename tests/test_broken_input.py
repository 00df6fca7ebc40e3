"""Broken input ends in one line that names the file, says what is wrong and what to do; never a traceback.

Each broken kubeconfig is given the way a user would: to the console script
`rcc-conformance run` (it stops before pytest starts and writes no report) and
to `pytest suites` (the plugin stops at session start). Both exit 4, the
documented code for bad input. No cluster is needed: none is ever reached.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRUNCATED = 'apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster: {server: "https://127.0.0.1:1'

# name -> (how to make it in a folder, words the one line must contain)
BROKEN = {
    "etc-hostname": (lambda d: Path("/etc/hostname"), "is not a kubeconfig"),
    "truncated-yaml": (lambda d: _write(d / "truncated.yaml", TRUNCATED), "is not valid YAML at line 5"),
    "a-pod-manifest": (lambda d: _write(d / "pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n"),
                       "is a Kubernetes Pod, not a kubeconfig"),
    "yaml-mapping-no-config": (lambda d: _write(d / "settings.yaml", "colour: blue\nsize: 3\n"),
                               "has no clusters, contexts or users"),
    "empty-file": (lambda d: _write(d / "empty", ""), "is empty"),
    "a-directory": (lambda d: d, "is a directory, not a file"),
    "missing": (lambda d: d / "nope", "does not exist"),
}
# A Config whose entries the kubernetes client cannot load: found when the client reads it (pytest path).
MALFORMED_CA = ('apiVersion: v1\nkind: Config\nclusters: [{name: a, cluster: {server: "https://127.0.0.1:1", '
                'certificate-authority-data: "!!notbase64"}}]\ncontexts: [{name: c, context: {cluster: a, user: u}}]\n'
                'users: [{name: u, user: {token: t}}]\ncurrent-context: c\n')
LOADED_BY_CLIENT = {"malformed-ca-data": (lambda d: _write(d / "bad-ca.yaml", MALFORMED_CA), "is malformed")}


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def console_script() -> list[str]:
    """The installed `rcc-conformance`, next to this interpreter (as scripts/setup installs it)."""
    script = Path(sys.executable).parent / "rcc-conformance"
    found = script if script.exists() else shutil.which("rcc-conformance")
    assert found, f"rcc-conformance is not installed beside {sys.executable}: run scripts/setup"
    return [str(found)]


def assert_one_clear_line(result: subprocess.CompletedProcess, path: Path, words: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 4, output
    assert "Traceback" not in output and "INTERNALERROR" not in output, output
    lines = [line for line in output.splitlines() if str(path) in line and words in line]
    assert len(lines) == 1, output
    assert "pass a kubeconfig file" in lines[0] or "check" in lines[0], lines[0]


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_the_console_script_refuses_a_broken_kubeconfig_in_one_line_and_writes_nothing(tmp_path, case):
    make, words = BROKEN[case]
    path = make(tmp_path)
    report_dir = tmp_path / "report"
    result = subprocess.run([*console_script(), "run", "--kubeconfig", str(path), "--report-dir", str(report_dir)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert_one_clear_line(result, path, words)
    assert not report_dir.exists()


@pytest.mark.parametrize("case, workers", [
    *((case, []) for case in ("etc-hostname", "truncated-yaml", "a-pod-manifest", "empty-file", "a-directory")),
    ("malformed-ca-data", []),
    ("etc-hostname", ["-n", "2"]),
], ids=["etc-hostname", "truncated-yaml", "a-pod-manifest", "empty-file", "a-directory", "malformed-ca-data",
        "etc-hostname-two-workers"])
def test_pytest_suites_refuses_a_broken_kubeconfig_in_one_line(tmp_path, case, workers):
    make, words = {**BROKEN, **LOADED_BY_CLIENT}[case]
    path = make(tmp_path)
    result = subprocess.run([sys.executable, "-m", "pytest", "suites", "-p", "no:cacheprovider", "-q",
                             f"--kubeconfig={path}", *workers],
                            cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert_one_clear_line(result, path, words)


def test_cleanup_refuses_a_file_that_is_no_kubeconfig_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "conformance.cleanup", "--kubeconfig", "/etc/hostname"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0 and "/etc/hostname is not a kubeconfig" in result.stderr
