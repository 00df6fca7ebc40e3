"""The console script `rcc-conformance`: the main job's options in --help, everything else to pytest.

Also the runner's Allure history (`--history FILE`): the real Allure 3 generator
reads the file and appends each run, which is what gives the report its trend.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import cli, options, run

ROOT = Path(__file__).resolve().parents[1]
MOST_USED = ("--cluster {local,kind,existing}", "--kubeconfig FILE", "--context", "--handler NAME", "--strict",
             "--report-dir DIR", "-n WORKERS", "--keep-cluster", "--history FILE")


def script(*args: str) -> subprocess.CompletedProcess:
    path = Path(sys.executable).parent / "rcc-conformance"
    assert path.exists(), f"rcc-conformance is not installed beside {sys.executable}: run scripts/setup"
    return subprocess.run([str(path), *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_run_help_shows_the_options_people_need_most_and_where_the_rest_goes():
    result = script("run", "--help")
    assert result.returncode == 0, result.stderr
    for option in MOST_USED:
        assert option in result.stdout, option
    assert "goes to pytest unchanged" in result.stdout


def test_top_level_help_names_the_run_command_and_no_command_is_a_usage_error():
    top = script("--help").stdout
    assert "run" in top and "rcc-conformance run --kubeconfig FILE --context NAME --strict" in top
    bare = script()
    assert bare.returncode == 4 and "choose a command" in bare.stderr


def test_known_options_become_the_runners_and_pytest_options_pass_through_in_order():
    options, rest = cli.build_parser().parse_known_args(
        ["run", "-k", "not slow", "-n", "2", "--strict", "suites/test_use.py", "--timeout", "pod-start=30",
         "--kubeconfig=k.yaml", "--handler", "runc", "--handler=crun", "--history", "h.jsonl", "-x"])
    assert cli.pytest_args(options) == ["--kubeconfig", "k.yaml", "--handler", "runc", "--handler", "crun",
                                        "--strict", "-n", "2"]
    assert options.history == "h.jsonl"  # the runner's own: handed to it as a value, never to pytest
    assert rest == ["-k", "not slow", "suites/test_use.py", "--timeout", "pod-start=30", "-x"]


def test_an_abbreviated_option_is_not_guessed():
    options, rest = cli.build_parser().parse_known_args(["run", "--kube", "x"])
    assert options.kubeconfig is None and rest == ["--kube", "x"]


def test_python_m_conformance_run_still_works():
    result = subprocess.run([sys.executable, "-m", "conformance.run", "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and "--history FILE" in result.stdout


def test_runner_options_are_taken_out_of_pytests_arguments():
    runner, rest = run.split_runner_options(["-x", "--history", "h", "--report-dir=d", "--kubeconfig", "k"])
    assert (runner.history, runner.report_dir, runner.kubeconfig) == ("h", "d", "k")
    assert rest == ["-x", "--kubeconfig", "k"]  # checked by the runner, read by the plugin
    assert run.split_runner_options(["-x"]) == (run.RunnerOptions(), ["-x"])


def test_every_option_is_declared_once_and_the_console_script_and_pytest_agree():
    """conformance/options.py is the one table: the console script, pytest's --help and the README."""
    names = [flag for option in options.OPTIONS for flag in option.flags]
    assert len(names) == len(set(names))
    pytest_help = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--help"], cwd=ROOT,
                                 capture_output=True, text=True, timeout=120).stdout
    run_help = script("run", "--help").stdout
    readme = (ROOT / "README.md").read_text()
    every_option = (ROOT / "docs" / "options.md").read_text()
    for option in options.OPTIONS:
        assert f"`{option.flags[0]}" in every_option, option.flags
    for option in options.declared(options.PLUGIN):
        assert option.flags[0] in pytest_help, option.flags
    for heading in options.GROUPS:
        for option in options.shown(heading):
            assert option.flags[0] in run_help and f"`{option.flags[0]}" in readme, option.flags
    assert "{" + ",".join(options.CLUSTERS) + "}" in run_help and "{" + ",".join(options.CLUSTERS) + "}" in pytest_help


def _one_result(folder: Path, status: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*-result.json"):
        old.unlink()
    (folder / f"{status}-result.json").write_text(json.dumps({
        "uuid": f"00000000-0000-0000-0000-00000000000{len(status)}", "historyId": "rcc-history-probe",
        "testCaseId": "rcc-history-probe", "fullName": "tests#history_probe", "name": "history probe",
        "status": status, "stage": "finished", "start": 1, "stop": 2, "labels": [], "steps": [],
        "attachments": [], "parameters": []}))


def test_history_file_gains_one_entry_per_report_so_allure_can_show_the_trend(tmp_path):
    if run.ensure_allure(log=lambda _m: None) is None:
        pytest.fail("Allure 3 is not installed (reports/node_modules): run scripts/setup")
    history = tmp_path / "ci-cache" / "history.jsonl"
    for n, status in enumerate(("passed", "failed"), start=1):
        run_dir = tmp_path / f"run{n}"
        _one_result(run_dir / "allure-results", status)
        index = run.generate_html(run_dir, None, log=lambda _m: None, history=history)
        assert index is not None and index.exists()
        assert json.loads((run_dir / "allurerc.json").read_text())["historyPath"] == str(history)
        entries = [json.loads(line) for line in history.read_text().splitlines() if line.strip()]
        assert len(entries) == n
    # Allure keys a test by its own history id (from fullName and parameters): the same key in both
    # entries is what links a test's runs into a trend.
    keys = [set(entry["testResults"]) for entry in entries]
    assert len(keys[0]) == 1 and keys[0] == keys[1]
    key = keys[0].pop()
    assert [entry["testResults"][key]["status"] for entry in entries] == ["passed", "failed"]
