"""The package as a user meets it: ``python -m build`` makes the sdist and, from it, the wheel; a
fresh venv with no repository in sight (another folder, no PYTHONPATH, no system site-packages)
installs the wheel; ``lstmviz lessons`` copies the lessons there; lessons 01 and 07 run there under
nbval. About 3 minutes on one thread, most of it the two lessons.

The venv gets every package at the version installed here (the versions this suite is tested
with, torch's CPU build included), through uv, from the sources pip is configured with here (a
wheel folder, a local index) or PyPI: no other host.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from importlib.metadata import distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: What a source distribution is made from (setuptools keeps what pyproject.toml names).
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "lstmviz", "lessons")
RUN = ("01_vanilla_rnn.ipynb", "07_how_far_back.ipynb")

pytestmark = pytest.mark.slow


def _uv() -> str:
    here = Path(sys.executable).parent / "uv"  # the test extra installs it beside python
    found = str(here) if here.is_file() else shutil.which("uv")
    assert found, "uv is missing: pip install -e '.[test]'"
    return found


def _pip_sources() -> list[str]:
    """uv options for the wheel folders and indexes pip is configured with here (uv reads no
    pip.conf): ``pip config list`` lines such as ``global.find-links='/opt/wheels'``."""
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True
    ).stdout
    options = []
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        name = key.rsplit(".", 1)[-1]
        if name in ("find-links", "extra-index-url", "index-url"):
            for item in value.strip().strip("'\"").split():
                local = item.removeprefix("file://")
                if "://" in item and not item.startswith("file://") or Path(local).exists():
                    options.append(f"--{name}={item}")
    return list(dict.fromkeys(options))


def _pins(path: Path) -> Path:
    """A constraints file: every distribution installed here, at its version."""
    pins = sorted(
        {
            f"{d.metadata['Name']}=={d.version}"
            for d in distributions()
            if d.metadata["Name"] and d.metadata["Name"].lower() != "lstmviz"
        }
    )
    path.write_text("\n".join(pins) + "\n")
    return path


def _run(args: list, cwd: Path, env: dict, timeout: float = 900) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{args}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def test_wheel_in_a_fresh_venv_copies_the_lessons_and_runs_two_of_them(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["OMP_NUM_THREADS"] = "1"
    times = {}

    # the sources, as a clone has them; then sdist -> wheel, as a release is made
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            skip = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints")
            shutil.copytree(ROOT / name, src / name, ignore=skip)
        else:
            shutil.copy(ROOT / name, src / name)
    start = time.monotonic()
    _run([sys.executable, "-m", "build", "--outdir", tmp_path / "dist", src], tmp_path, env)
    (wheel,) = (tmp_path / "dist").glob("lstmviz-*.whl")
    times["build"] = time.monotonic() - start

    start = time.monotonic()
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    _run([_uv(), "venv", "--quiet", "--python", sys.executable, venv], tmp_path, env)
    install = [_uv(), "pip", "install", "--quiet", "--python", python, *_pip_sources()]
    install += ["--index-strategy", "unsafe-best-match", "--constraint", _pins(tmp_path / "c.txt")]
    _run([*install, wheel, "nbval", "pytest", "ipykernel"], tmp_path, env)
    times["install"] = time.monotonic() - start

    # a user's folder, far from the repository
    user = tmp_path / "user"
    user.mkdir()
    out = _run([venv / "bin" / "lstmviz", "lessons"], user, env)
    assert "jupyter lab lstmviz-lessons" in out
    copied = user / "lstmviz-lessons"
    for path in [*(ROOT / "lessons").glob("*.ipynb"), *(ROOT / "lessons/solutions").glob("*.py")]:
        rel = path.relative_to(ROOT / "lessons")
        assert (copied / rel).read_bytes() == path.read_bytes(), rel
    where = "from lstmviz.core.lessons import lessons_dir; print(lessons_dir())"
    shipped = Path(_run([python, "-c", where], user, env).strip())
    assert shipped.is_relative_to(venv) and shipped.name == "lessons", shipped

    freeze = [_uv(), "pip", "freeze", "--python", python]
    before = _run(freeze, user, env)
    shutil.copy(ROOT / "tests" / "nbval_sanitize.cfg", user / "sanitize.cfg")
    nbval = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax"]
    nbval += ["--nbval-current-env", "--nbval-sanitize-with", "sanitize.cfg"]
    start = time.monotonic()
    _run([*nbval, *(copied / name for name in RUN)], user, env)
    times["lessons"] = time.monotonic() - start
    assert _run(freeze, user, env) == before  # their install cell installed nothing
    print(", ".join(f"{k} {v:.0f} s" for k, v in times.items()))
