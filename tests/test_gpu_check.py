"""benchmarks/gpu_check.py works end to end: every section at tiny sizes on the CPU (--smoke)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _env(**extra: str) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **extra}


def test_without_a_gpu_it_says_so_and_exits_0(tmp_path):
    # CUDA_VISIBLE_DEVICES="" hides any GPU, so this runs the same on every machine
    res = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=_env(CUDA_VISIBLE_DEVICES=""),
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpu-check: no CUDA GPU on this machine")
    assert list(tmp_path.iterdir()) == []  # no report: nothing was checked


@pytest.mark.slow
def test_smoke_run_writes_a_report_with_every_section(tmp_path):
    res = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    (report,) = tmp_path.glob("gpu-check-*-smoke.md")
    text = report.read_text()
    sections = list(_load().SECTIONS)
    for name in sections:
        assert f"\n## {name}: pass\n" in text, name
        assert re.search(rf"^\| {name} \| pass \| [0-9.]+ \|", text, re.M), name
    assert "torch " in text and "CUDA" in text and "cuDNN" in text
    # the numbers are real measurements, not placeholders
    assert re.search(r"- fp32 chars/s: [0-9,]+\n", text)
    errors = [float(e) for e in re.findall(r"- max error [ifgoch] layer [01]: ([0-9.e+-]+)", text)]
    assert len(errors) == 12 and max(errors) <= 1e-4  # 6 names x 2 layers, within TOL
    steps = re.search(r"- steps recorded: (\d+)\n- expected: (\d+)", text)
    assert steps and steps[1] == steps[2] == str(len("ROMEO\n") + 30 - 1)
    assert "- world_size recorded: 1" in text
    assert "probe: gpu-check device: cpu preset: quick" in text


def test_a_section_past_its_time_limit_is_recorded_not_fatal():
    result = _load().run_section("lesson04", "cpu", smoke=True, limit=1.0)
    assert result["ok"] is False
    assert result["error"] == "timed out after 1 s (section stopped)"
    assert 1.0 <= result["seconds"] < 30
