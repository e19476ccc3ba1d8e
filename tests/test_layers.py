"""The four layers import only downward, checked by import-linter itself (ARCHITECTURE.md).

``lint-imports`` reads the contracts in pyproject.toml. The second test breaks a contract on
purpose in a copy of the package, so a linter that checked nothing could not pass.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which(
    "lint-imports"
)

needs_linter = pytest.mark.skipif(LINT is None, reason="import-linter is not installed")


def lint(cwd: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` in ``cwd``, importing the ``lstmviz`` found there first."""
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [LINT, "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@needs_linter
def test_the_layer_contracts_hold():
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Layers: teaching -> viz -> gates -> core KEPT" in done.stdout
    assert "0 broken" in done.stdout


@needs_linter
def test_a_core_module_importing_viz_fails_the_linter(tmp_path):
    shutil.copytree(ROOT / "lstmviz", tmp_path / "lstmviz", ignore=shutil.ignore_patterns("*.pt"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    model = tmp_path / "lstmviz" / "core" / "model.py"
    source = model.read_text(encoding="utf-8")
    anchor = "from .cell import lstm_step\n"
    assert anchor in source
    model.write_text(source.replace(anchor, anchor + "from ..viz import plots\n"), "utf-8")
    done = lint(tmp_path)
    assert done.returncode != 0, done.stdout
    assert "Layers: teaching -> viz -> gates -> core BROKEN" in done.stdout
    assert "lstmviz.core.model -> lstmviz.viz" in done.stdout
