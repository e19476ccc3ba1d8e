"""Front-ends: the plotly renderer ``setup()`` picks in each, and the browser finder for PNGs."""

from __future__ import annotations

import importlib
import platform
import sys
import types
from contextlib import contextmanager

import plotly.io as pio
import pytest
from choreographer.browsers import _chrome_constants, chromium

from lstmviz.teaching import notebook
from lstmviz.viz import style

MAC_CHROME = "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"


@pytest.fixture
def plain(monkeypatch):
    """A plain Jupyter kernel: no Colab, no VS Code, no PLOTLY_RENDERER, a browser for kaleido."""
    for name in ("VSCODE_PID", "PLOTLY_RENDERER", "COLAB_NOTEBOOK_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(notebook, "static_images_available", lambda: True)
    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")  # plotly's pick in a kernel
    png = pio.renderers["png"]
    for attr in ("width", "height", "scale"):  # setup() sizes the PNGs; put them back after
        monkeypatch.setattr(png, attr, getattr(png, attr))
    started = []
    monkeypatch.setattr(notebook, "_start_kaleido", lambda: started.append(True))
    return started


def test_plain_jupyter_gets_the_interactive_mimetype_and_a_png_for_static_viewers(plain):
    assert notebook.setup(seed=1) == "plotly_mimetype+png"
    assert pio.renderers.default == "plotly_mimetype+png" and plain == [True]
    assert (pio.renderers["png"].width, pio.renderers["png"].height) == (900, 450)
    assert notebook.setup() == "plotly_mimetype+png"  # a second setup() keeps it


def test_without_a_browser_for_kaleido_figures_are_interactive_only(plain, monkeypatch):
    monkeypatch.setattr(notebook, "static_images_available", lambda: False)
    assert notebook.setup() == "plotly_mimetype" and plain == []


@pytest.mark.parametrize("plotly_pick", ["plotly_mimetype+notebook", "plotly_mimetype"])
def test_plotly_generic_jupyter_choices_are_the_ones_we_refine(plain, monkeypatch, plotly_pick):
    monkeypatch.setattr(pio.renderers, "default", plotly_pick)
    assert notebook.choose_renderer() == "plotly_mimetype+png"


def test_colab_keeps_plotlys_own_renderer(plain, monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    for pick in ("colab", "plotly_mimetype"):  # even a generic one: Colab's own front-end decides
        monkeypatch.setattr(pio.renderers, "default", pick)
        assert notebook.setup() == pick and pio.renderers.default == pick
    assert plain == []  # no kaleido browser started for nothing


def test_vscode_keeps_plotlys_own_renderer(plain, monkeypatch):
    monkeypatch.setattr(pio.renderers, "default", "vscode")
    assert notebook.setup() == "vscode"
    monkeypatch.setenv("VSCODE_PID", "4242")
    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")
    assert notebook.setup() == "plotly_mimetype" and plain == []


@pytest.mark.parametrize("pick", ["notebook_connected", "kaggle", "browser", ""])
def test_a_renderer_chosen_by_the_user_or_for_another_host_is_kept(plain, monkeypatch, pick):
    monkeypatch.setattr(pio.renderers, "default", pick)
    assert notebook.choose_renderer() == pick


def test_plotly_renderer_variable_wins(plain, monkeypatch):
    monkeypatch.setenv("PLOTLY_RENDERER", "plotly_mimetype")
    assert notebook.choose_renderer() == "plotly_mimetype"


def test_in_colab_looks_for_the_google_colab_package(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert notebook._in_colab() is False  # not installed here
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    assert notebook._in_colab() is True


# ----------------------------------------------------------------------------- browser finder
@contextmanager
def _on(system: str, tmp_path, **env: str):
    """Pretend to be on ``system`` with an empty PATH: choreographer's tables rebuilt for it."""
    empty = tmp_path / "empty-path"
    empty.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(platform, "system", lambda: system)
        mp.setenv("PATH", str(empty))
        mp.delenv("BROWSER_PATH", raising=False)
        mp.setenv("NoDefaultCurrentDirectoryInExePath", "0")  # choreographer sets it on Windows
        for name, value in env.items():
            mp.setenv(name, value)
        tables = importlib.reload(_chrome_constants)  # its install folders depend on the system
        mp.setattr(chromium, "chromium_based_browsers", tables.chromium_based_browsers)
        try:
            yield mp
        finally:
            mp.undo()
            importlib.reload(_chrome_constants)


def test_finder_finds_chrome_in_the_macos_applications_folder(tmp_path):
    with _on("Darwin", tmp_path) as mp:
        assert style.find_browser() is None and not style.static_images_available()
        mp.setattr(chromium, "_is_exe", lambda path: str(path) == MAC_CHROME)
        assert style.find_browser() == MAC_CHROME and style.static_images_available()


def test_finder_finds_chrome_in_windows_program_files(tmp_path):
    programs = tmp_path / "Program Files"
    with _on("Windows", tmp_path, PROGRAMFILES=str(programs)):
        assert style.find_browser() is None
        # Windows joins with backslashes; on this test's Linux that is one odd file name
        chrome = tmp_path / (programs.name + r"\Google\Chrome\Application\chrome.exe")
        chrome.write_text("")
        chrome.chmod(0o755)
        assert style.find_browser() == str(chrome)


def test_finder_finds_linux_chromium_on_path(tmp_path):
    with _on("Linux", tmp_path) as mp:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        exe = bin_dir / "chromium"
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
        mp.setenv("PATH", str(bin_dir))
        assert style.find_browser() == str(exe)


def test_browser_path_variable_is_used_only_when_it_names_a_file(tmp_path, monkeypatch):
    exe = tmp_path / "my-chrome"
    exe.write_text("")
    monkeypatch.setenv("BROWSER_PATH", str(exe))
    assert style.find_browser() == str(exe)
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "missing"))
    assert style.find_browser() is None and not style.static_images_available()
