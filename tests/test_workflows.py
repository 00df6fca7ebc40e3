"""The CI recipes in .github/workflows are valid GitHub Actions workflows and run the README's command.

actionlint (rhysd/actionlint, built from the Go module proxy and cached like the
cluster's binaries in ~/.cache/runtimeclass-conformance/bin/actionlint-<version>/)
checks syntax, expressions, action inputs and runner labels; a deliberately
broken workflow shows that the check can fail.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from clusters.toolbox.binaries import GoComponent, default_cache_dir, ensure_component
from clusters.toolbox.errors import ClusterError

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT_VERSION = "v1.7.12"
ACTIONLINT = GoComponent(
    name="actionlint", module="github.com/rhysd/actionlint", version=ACTIONLINT_VERSION,
    commands={"actionlint": "github.com/rhysd/actionlint/cmd/actionlint"},
    ldflags=f"-s -w -X github.com/rhysd/actionlint.version={ACTIONLINT_VERSION}")


@pytest.fixture(scope="module")
def actionlint() -> Path:
    if not shutil.which("go") and not (default_cache_dir() / "bin" / ACTIONLINT.key / ".complete").exists():
        pytest.skip("missing capability go: actionlint is built from the Go module proxy (install Go)")
    try:
        paths = ensure_component(ACTIONLINT, default_cache_dir(), None, progress=lambda _m: None)
    except ClusterError as err:
        pytest.fail(str(err))
    return paths["actionlint"]


def lint(actionlint: Path, *files: Path) -> subprocess.CompletedProcess:
    # -shellcheck= / -pyflakes=: the same verdict on every machine, whatever linters it has installed.
    return subprocess.run([str(actionlint), "-no-color", "-shellcheck=", "-pyflakes=", *map(str, files)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def steps(name: str) -> list[dict]:
    return [step for job in workflow(name)["jobs"].values() for step in job["steps"]]


def test_the_workflow_files_pass_actionlint(actionlint):
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"conformance-kind.yml", "conformance-existing.yml"}
    result = lint(actionlint, *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_a_broken_workflow(actionlint, tmp_path):
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    text = (WORKFLOWS / "conformance-kind.yml").read_text()
    broken.write_text(text.replace("${{ github.run_id }}", "${{ github.run_idd }}", 1)
                      .replace("actions/upload-artifact@v4", "actions/upload-artifact@v4\n        with: 3", 1))
    result = lint(actionlint, broken)
    assert result.returncode != 0 and "run_idd" in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize("name, selects", [("conformance-kind.yml", "--cluster kind"),
                                           ("conformance-existing.yml", "--kubeconfig")])
def test_each_recipe_runs_the_console_script_and_keeps_the_report_and_history(name, selects):
    run = "\n".join(step.get("run", "") for step in steps(name))
    assert "scripts/setup" in run and ".venv/bin/rcc-conformance run" in run
    assert selects in run and '--history "$HISTORY"' in run
    uses = {step.get("uses", "").split("@")[0]: step for step in steps(name)}
    upload = uses["actions/upload-artifact"]
    assert upload["if"] == "always()" and upload["with"]["path"].startswith("reports/runs/")
    assert uses["actions/cache/restore"]["with"]["path"] == uses["actions/cache/save"]["with"]["path"] == \
        "${{ env.HISTORY }}"
    assert uses["actions/cache/save"]["if"] == "always()"


def test_the_existing_cluster_recipe_takes_the_kubeconfig_from_a_secret_and_removes_it():
    text = (WORKFLOWS / "conformance-existing.yml").read_text()
    assert "${{ secrets.RCC_KUBECONFIG }}" in text
    last = steps("conformance-existing.yml")[-1]
    assert last["if"] == "always()" and "rm -f" in last["run"]
