"""The project's own files agree with each other: dependencies, CI, README."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names of the PyPI packages that are spelled differently there
CONDA_NAMES = {"torch": "pytorch", "kaleido": "python-kaleido"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement, maxsplit=1)[0].strip().lower()


def _spec(requirement: str) -> str:
    return requirement[len(_name(requirement)) :].replace(" ", "")


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    conda = {_name(d): _spec(d) for d in env if isinstance(d, str)}
    pip = {_name(d): _spec(d) for item in env if isinstance(item, dict) for d in item["pip"]}
    conda.pop("python"), conda.pop("pip")
    pip.pop("-e", None)
    listed = {**conda, **pip}
    wanted = {CONDA_NAMES.get(_name(d), _name(d)): _spec(d) for d in deps}
    assert listed == wanted


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^(make \w+)\s+#", readme, flags=re.M)
    assert commands == ["make lab", "make test"]
    ci = [
        line
        for line in (ROOT / ".ci/run").read_text().splitlines()
        if line.strip() and not line.startswith("#") and not line.startswith(("set ", "cd "))
    ]
    assert ci == ["make test"]


def test_torch_requirement_stays_a_range_and_ci_pins_the_cpu_build():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    torch_req = next(d for d in deps if _name(d) == "torch")
    assert ">=" in torch_req and "==" not in torch_req
    assert re.search(r"^TORCH\s*\?=\s*torch==2\.13\.0$", (ROOT / "Makefile").read_text(), re.M)
