"""The lessons that ship with the package: found, and copied by ``lstmviz lessons DIR`` -- every
file, never over a file the user changed (unless --force), and one readable line when DIR is a
file, cannot be written or fills the disk. Also: lessons read their files through the package."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import nbformat
import pytest
from faults import refused, says

from lstmviz.__main__ import main
from lstmviz.core import lessons
from lstmviz.core.errors import LstmvizError
from lstmviz.core.files import TEMP_SUFFIX
from lstmviz.teaching import notebook

ROOT = Path(__file__).resolve().parents[1]


def _copy(capsys, *argv: str) -> str:
    assert main(["lessons", *argv]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return captured.out


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_a_source_checkout_finds_its_own_lessons_and_solutions():
    assert lessons.lessons_dir() == ROOT / "lessons"
    files = {p.as_posix() for p in lessons.lesson_files()}
    numbered = {p.name for p in (ROOT / "lessons").glob("[0-9][0-9]_*.ipynb")}
    assert len(numbered) >= 7 and numbered <= files
    assert {f"solutions/{p.name}" for p in (ROOT / "lessons/solutions").glob("*.py")} <= files
    assert "solutions/README.md" in files
    assert not any("__pycache__" in f for f in files)


def test_copies_every_file_and_says_how_to_open_them(tmp_path, capsys):
    dest = tmp_path / "my lessons"
    out = _copy(capsys, str(dest))
    shipped = {p.as_posix(): (ROOT / "lessons" / p).read_bytes() for p in lessons.lesson_files()}
    assert _snapshot(dest) == shipped
    notebooks = sum(name.endswith(".ipynb") for name in shipped)
    assert f"copied {len(shipped)} file(s) ({notebooks} notebooks)" in out
    assert f"jupyter lab {shlex.quote(str(dest))}" in out  # a path with a space, quoted


def test_default_folder_is_lstmviz_lessons_in_the_working_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = _copy(capsys)
    assert (tmp_path / "lstmviz-lessons" / "01_vanilla_rnn.ipynb").is_file()
    assert "jupyter lab lstmviz-lessons" in out


def test_a_second_copy_leaves_identical_files_alone(tmp_path, capsys):
    dest = tmp_path / "l"
    _copy(capsys, str(dest))
    first = dest / "01_vanilla_rnn.ipynb"
    os.utime(first, (1, 1))
    (dest / "solutions" / "README.md").unlink()  # one missing file is written again
    out = _copy(capsys, str(dest))
    assert first.stat().st_mtime == 1  # not rewritten
    assert (dest / "solutions" / "README.md").is_file()
    assert "copied 1 file(s) (0 notebooks)" in out and "were there already" in out
    assert "already holds these lessons, unchanged" in _copy(capsys, str(dest))


def test_a_changed_lesson_is_never_overwritten_without_force(tmp_path, capsys):
    dest = tmp_path / "l"
    _copy(capsys, str(dest))
    mine = dest / "04_training_char_lstm.ipynb"
    mine.write_text("my notes")
    (dest / "02_vanishing_gradients.ipynb").unlink()
    refused(capsys, ["lessons", str(dest)], "04_training_char_lstm.ipynb", "--force", "differ")
    assert mine.read_text() == "my notes"
    # checked before writing: the missing lesson was not copied either
    assert not (dest / "02_vanishing_gradients.ipynb").exists()
    out = _copy(capsys, str(dest), "--force")
    assert mine.read_bytes() == (ROOT / "lessons" / mine.name).read_bytes()
    assert (dest / "02_vanishing_gradients.ipynb").is_file()
    assert "replacing 1 that differed" in out


def test_a_link_where_a_lesson_goes_is_refused_even_with_force(tmp_path, capsys):
    dest = tmp_path / "l"
    dest.mkdir()
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("keep")
    (dest / "01_vanilla_rnn.ipynb").symlink_to(elsewhere)
    refused(capsys, ["lessons", str(dest), "--force"], "symbolic link", "never replaces")
    assert elsewhere.read_text() == "keep"


def test_dir_that_is_a_file_is_refused(tmp_path, capsys):
    afile = tmp_path / "notes.txt"
    afile.write_text("x")
    refused(capsys, ["lessons", str(afile)], "notes.txt", "is a file, not a folder")
    refused(capsys, ["lessons", str(afile / "sub")], "notes.txt", "not a folder")
    assert afile.read_text() == "x"


def test_dir_that_cannot_be_written_is_refused(readonly_dir, capsys):
    line = refused(capsys, ["lessons", str(readonly_dir / "l")], str(readonly_dir / "l"))
    assert re.search(r"read-only|permission denied", line), line
    line = refused(capsys, ["lessons", str(readonly_dir)], "nothing was copied")
    assert re.search(r"read-only|permission denied", line), line


def test_a_full_disk_is_one_line_and_leaves_no_half_file(tmpfs, capsys):
    small = tmpfs("1m")  # the first lessons fit, the rest do not
    line = refused(capsys, ["lessons", str(small / "l")], "disk is full", "were copied")
    copied = _snapshot(small / "l")
    assert copied and not any(name.endswith(TEMP_SUFFIX) for name in copied)
    for name, data in copied.items():  # what is there is whole
        assert data == (ROOT / "lessons" / name).read_bytes(), (name, line)


def test_an_install_without_lessons_says_so(tmp_path, monkeypatch):
    fake = tmp_path / "site-packages" / "lstmviz" / "core"
    fake.mkdir(parents=True)
    monkeypatch.setattr(lessons, "__file__", str(fake / "lessons.py"))
    with pytest.raises(LstmvizError) as e:
        lessons.lessons_dir()
    says(e.value, "no lessons", "reinstall")


def test_solutions_load_through_the_package_not_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a folder with no solutions/ in it, as in Colab
    module = notebook.solutions("07_how_far_back")
    assert Path(module.__file__) == ROOT / "lessons" / "solutions" / "07_how_far_back.py"
    assert callable(module.exercise_1)
    assert notebook.solutions("07_how_far_back") is module  # loaded once
    with pytest.raises(LstmvizError) as e:
        notebook.solutions("99_nothing")
    says(e.value, "99_nothing", "07_how_far_back")


#: How a lesson would read a file relative to the folder it runs in.
RELATIVE_READ = re.compile(
    r"""(open|Path|read_csv|read_text|read_bytes|loadtxt|load)\(\s*f?["'](?!/)[^"']*[/.]"""
    r"""|import_module\(\s*["']solutions|results/"""
)


@pytest.mark.parametrize(
    "path", sorted((ROOT / "lessons").glob("*.ipynb")), ids=lambda p: p.name[:2]
)
def test_lessons_read_no_file_relative_to_the_working_folder(path):
    """They read through the package (result_file, solutions, load_pretrained, load_corpus)."""
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not RELATIVE_READ.search(cell.source), (i, cell.source[:300])
