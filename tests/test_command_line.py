"""Both provider command lines (`rcc-local`, `python -m clusters.kind`) end the same way:
one line and exit 2 on a ClusterError, `interrupted` and exit 130 on Ctrl-C."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from clusters.toolbox.command_line import run_command
from clusters.toolbox.errors import ClusterError

ROOT = Path(__file__).resolve().parents[1]


def test_a_command_that_succeeds_keeps_its_own_exit_code():
    assert run_command("prog", lambda: 0) == 0
    assert run_command("prog", lambda: 1) == 1


def test_a_cluster_error_is_one_line_and_exit_2(capsys):
    def broken() -> int:
        raise ClusterError("topology file x does not exist; pass an existing file")

    assert run_command("rcc-local", broken) == 2
    assert capsys.readouterr().err == "rcc-local: error: topology file x does not exist; pass an existing file\n"


def test_ctrl_c_is_exit_130(capsys):
    def interrupted() -> int:
        raise KeyboardInterrupt

    assert run_command("python -m clusters.kind", interrupted) == 130
    assert capsys.readouterr().err == "python -m clusters.kind: interrupted\n"


def test_other_errors_are_not_swallowed():
    def bug() -> int:
        raise ValueError("a bug, not the user's problem")

    with pytest.raises(ValueError):
        run_command("prog", bug)


def test_rcc_local_with_a_missing_topology_says_so_in_one_line():
    result = subprocess.run([sys.executable, "-m", "clusters.local", "--topology", "/nonexistent", "status"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == "rcc-local: error: topology file /nonexistent does not exist; pass an existing file\n"
