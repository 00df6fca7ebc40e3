"""CI fails on an import that pyproject.toml does not declare (scripts/check-imports, run by .ci/run).

The check is the shared tool ../shared/tools/check-deps (or $RCC_CHECK_DEPS),
run against the project's .venv; a copy of the project with one undeclared
import shows that it fails, and says which import in one line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = Path(os.environ.get("RCC_CHECK_DEPS") or ROOT.parent / "shared" / "tools" / "check-deps")

pytestmark = pytest.mark.skipif(not os.access(TOOL, os.X_OK),
                                reason=f"missing capability shared-tools: {TOOL} (beside the clone in CI; "
                                       f"or set RCC_CHECK_DEPS)")


def check(project: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(project / "scripts" / "check-imports")], cwd=project, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "RCC_CHECK_DEPS": str(TOOL)})


def test_the_project_declares_every_import_it_makes():
    result = check(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("module", ["numpy_not_installed_here", "pip"])
def test_an_undeclared_import_fails_in_one_line_naming_it(tmp_path, module):
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "pyproject.toml", project)
    shutil.copy(ROOT / "scripts" / "check-imports", project / "scripts")
    (project / ".venv").symlink_to(ROOT / ".venv")
    (project / "conformance").mkdir()
    (project / "conformance" / "extra.py").write_text(f"import yaml\nimport {module}\n")
    result = check(project)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and f"undeclared import {module}" in lines[0], result.stdout
