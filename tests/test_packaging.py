"""The project's own files agree with each other: dependencies, CI, README."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
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


def test_ci_runs_the_readme_test_command_then_the_compat_jobs():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^(make \w+)\s+#", readme, flags=re.M)
    assert commands == ["make lab", "make test"]
    ci = [
        line.split("#")[0].strip()
        for line in (ROOT / ".ci/run").read_text().splitlines()
        if line.strip() and not line.startswith("#") and not line.startswith(("set ", "cd "))
    ]
    # torch from pip's own settings (this machine's disk), never PyTorch's CPU index
    assert ci == ["export TORCH_INDEX=", "make test", "make test-compat"]


def test_torch_requirement_stays_a_range_and_ci_pins_the_cpu_build():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    torch_req = next(d for d in deps if _name(d) == "torch")
    assert ">=" in torch_req and "==" not in torch_req
    assert re.search(r"^TORCH\s*\?=\s*torch==2\.13\.0$", (ROOT / "Makefile").read_text(), re.M)


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake_nvidia_smi(tmp_path):
    """A bin folder whose `nvidia-smi -L` lists one GPU, as on a CUDA machine."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H200 (UUID: GPU-0)'\n")
    smi.chmod(0o755)
    return bin_dir


def test_torch_index_is_the_cpu_index_only_on_linux_without_an_nvidia_gpu(tmp_path, monkeypatch):
    tool = _tool("torch_index")
    cpu = "https://download.pytorch.org/whl/cpu"
    assert tool.CPU_INDEX == cpu
    assert tool.torch_index("linux", gpu=False) == cpu
    assert tool.torch_index("linux", gpu=True) == ""
    assert tool.torch_index("darwin", gpu=False) == ""  # macOS and Windows wheels carry no CUDA
    assert tool.torch_index("win32", gpu=False) == ""
    marker = tmp_path / "version"  # stands for /proc/driver/nvidia/version
    missing = str(tmp_path / "no-nvidia-smi")
    assert not tool.nvidia_gpu_visible(marker, smi=missing)
    marker.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.0\n")
    assert tool.nvidia_gpu_visible(marker, smi=missing)
    failing = tmp_path / "failing-smi"  # installed driver tools, but no GPU answering
    failing.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    failing.chmod(0o755)
    assert not tool.nvidia_gpu_visible(tmp_path / "absent", smi=str(failing))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the choice is Linux's")
@pytest.mark.skipif(Path("/proc/driver/nvidia/version").exists(), reason="a real NVIDIA driver")
def test_make_setup_dry_run_picks_the_index(fake_nvidia_smi):
    """`make -n setup` (prints, runs nothing, contacts no host) under a faked machine."""

    def torch_line(*args: str, path: str) -> str:
        env = {**os.environ, "PATH": path}
        env.pop("TORCH_INDEX", None)
        out = subprocess.run(
            ["make", "-n", "setup", "VENV=/nonexistent/venv", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return next(line for line in out.splitlines() if "torch==" in line)

    no_gpu_path = "/usr/bin:/bin"  # /usr/bin/python3 runs tools/torch_index.py; no nvidia-smi
    gpu_path = f"{fake_nvidia_smi}:{no_gpu_path}"
    if shutil.which("nvidia-smi", path=no_gpu_path) or not shutil.which(
        "python3", path=no_gpu_path
    ):
        pytest.skip("needs /usr/bin/python3 and no nvidia-smi in /usr/bin or /bin")
    cpu = "--index-url https://download.pytorch.org/whl/cpu"
    assert cpu in torch_line(path=no_gpu_path)
    assert "--index-url" not in torch_line(path=gpu_path)
    assert "--index-url" not in torch_line("TORCH_INDEX=", path=no_gpu_path)  # CI's override
    mirror = torch_line("TORCH_INDEX=http://127.0.0.1:9/simple", path=gpu_path)
    assert "--index-url http://127.0.0.1:9/simple" in mirror
    assert '"torch==2.13.0"' in mirror


def test_lowest_constraints_pin_every_dependency_at_its_lower_bound():
    tool = _tool("lowest_constraints")
    assert tool.lowest_pins(["torch>=2.3,<3", "plotly >= 6.1.1, <8", "numpy>=1.24"]) == [
        "torch==2.3",
        "plotly==6.1.1",
        "numpy==1.24",
    ]
    with pytest.raises(SystemExit, match="no lower bound"):
        tool.lowest_pins(["tqdm"])
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert len(tool.lowest_pins(deps)) == len(deps)


def test_wheel_ships_models_corpus_licences_and_py_typed(tmp_path):
    """Build the wheel from a copy of the sources (setuptools, offline); list what it carries."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    for name in ("lstmviz", "lessons"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    build = "import sys, setuptools.build_meta as b; b.build_wheel(sys.argv[1])"  # PEP 517
    subprocess.run(
        [sys.executable, "-c", build, str(tmp_path / "dist")],
        cwd=src,
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("lstmviz-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        metadata = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    for shipped in (
        "lstmviz/py.typed",
        "lstmviz/checkpoints/shakespeare.pt",
        "lstmviz/checkpoints/python.pt",
        "lstmviz/data/python_stdlib.txt.xz",
        "lstmviz/data/LICENSE-python-corpus",
        "lstmviz/core/corpus.py",
        "lstmviz/viz/recorded/explorer.js",  # export_html's page script, style and template
        "lstmviz/viz/recorded/explorer.css",
        "lstmviz/viz/recorded/explorer.html",
        "lstmviz/lessons/solutions/README.md",
    ):
        assert shipped in names
    # every notebook and worked solution in lessons/, once, as lstmviz/lessons/ (lstmviz lessons)
    for path in (ROOT / "lessons").rglob("*"):
        if path.suffix in (".ipynb", ".py"):
            assert f"lstmviz/{path.relative_to(ROOT).as_posix()}" in names, path
    assert not any(n.startswith("lessons/") for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: MIT" in metadata
    assert "Requires-Python: >=3.11" in metadata


def test_every_folder_of_the_package_is_listed_in_pyproject():
    """pyproject lists the packages (to map lessons/ into the wheel): none may be forgotten."""
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(p.relative_to(ROOT).parts)
        for p in [ROOT / "lstmviz", *(ROOT / "lstmviz").rglob("*")]
        if p.is_dir() and p.name != "__pycache__"
    }
    assert found | {"lstmviz.lessons", "lstmviz.lessons.solutions"} == listed


def test_licence_is_mit_and_spdx():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"
    assert "setuptools>=77" in project["build-system"]["requires"]
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License") and "2026 the lstmviz authors" in licence
    assert "Python Software Foundation" in (ROOT / "lstmviz/data/LICENSE-python-corpus").read_text()


def test_supported_versions_page_states_pyproject_bounds():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    page = (ROOT / "docs" / "supported-versions.md").read_text()
    table = page.split("# Supported versions", 1)[1].split("\n## ")[0]
    assert f"| Python | ≥ {project['requires-python'].removeprefix('>=')} |" in table
    for dep in project["dependencies"]:
        rows = [line for line in table.splitlines() if line.startswith("| ")]
        row = next(line for line in rows if _name(dep) in line.split("|")[1])
        lower = re.search(r">=([\d.]+)", dep).group(1)
        upper = re.search(r"<([\d.]+)", dep)
        assert lower in row, (dep, row)
        assert upper is None or f"< {upper.group(1)}" in row, (dep, row)


def test_version_is_written_once_and_read_from_the_metadata():
    """pyproject.toml holds the version; the package, the CLI and CITATION.cff agree with it."""
    import lstmviz
    from lstmviz.core import version as version_module

    written = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert lstmviz.__version__ == written
    init = (ROOT / "lstmviz" / "__init__.py").read_text()
    assert written not in init and "__version__ = _package_version()" in init
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert str(citation["version"]) == written
    assert f"## [{written}]" in (ROOT / "CHANGELOG.md").read_text()
    assert version_module.package_version() == written


def test_version_of_a_source_tree_never_installed(monkeypatch):
    from importlib.metadata import PackageNotFoundError

    from lstmviz.core import version as version_module

    def missing(name):
        raise PackageNotFoundError(name)

    monkeypatch.setattr(version_module, "version", missing)
    assert version_module.package_version() == version_module.NOT_INSTALLED


def test_citation_cff_has_what_cff_1_2_0_requires():
    """The keys and types CFF 1.2.0's schema requires (no validator is installed offline)."""
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    assert isinstance(cff["message"], str) and isinstance(cff["title"], str)
    assert cff["type"] in ("software", "dataset")
    assert cff["authors"] and all(
        ("name" in a) != ("family-names" in a or "given-names" in a) for a in cff["authors"]
    )  # each an entity (name) or a person (family/given names)
    assert (
        cff["license"] == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    )
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(cff["date-released"]))
    allowed = {
        "cff-version", "message", "type", "title", "abstract", "authors", "version",
        "date-released", "license", "keywords", "references", "repository-code", "url",
        "identifiers", "doi", "contact", "commit", "license-url", "preferred-citation",
        "repository", "repository-artifact",
    }  # fmt: skip
    assert set(cff) <= allowed
    for ref in cff.get("references", []):
        assert {"type", "title", "authors"} <= set(ref)


def test_contributing_covers_setup_tests_lessons_and_layers():
    text = (ROOT / "CONTRIBUTING.md").read_text()
    for words in ("make setup-test", "make test", "make lessons", "ARCHITECTURE.md", "mypy"):
        assert words in text, words
    makefile = (ROOT / "Makefile").read_text()
    for target in re.findall(r"^make ([\w-]+)", text, flags=re.M):
        assert re.search(rf"^{target}:", makefile, re.M), target
