"""`make lab`, `make notebook` and `make voila` (tools/lab.py): JupyterLab and Notebook 7 serve
lesson 01 (news prompt off), Voila the explorer or the lesson LESSON= names; root or not."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("lab", ROOT / "tools" / "lab.py")
lab = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lab)


@pytest.mark.parametrize(
    "target, words",
    [
        ("lab", ["tools/lab.py --port=$(PORT)"]),
        ("notebook", ["tools/lab.py --app=notebook --port=$(PORT)"]),
        ("voila", ["tools/lab.py --app=voila --notebook=$(LESSON)"]),
    ],
)
def test_make_targets_run_tools_lab(target, words):
    recipe = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert recipe, target
    for word in words:
        assert word in recipe.group(1)


@pytest.mark.parametrize("uid", [0, 1000])
def test_notebook_and_voila_args_for_root(monkeypatch, uid):
    monkeypatch.setattr(os, "geteuid", lambda: uid)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", ":0")
    nb = lab.app_args("notebook", ["--port=1"])
    assert nb[:3] == [sys.executable, "-m", "notebook"] and nb[-1] == "--port=1"
    assert ("--allow-root" in nb) == (uid == 0)
    assert "--ServerApp.ip=127.0.0.1" in nb and "--no-browser" not in nb
    assert f"--JupyterNotebookApp.app_settings_dir={lab.SETTINGS}" in nb  # news off
    voila = lab.app_args("voila", [])
    assert voila[:4] == [sys.executable, "-m", "voila", str(lab.EXPLORER)]
    assert "--Voila.ip=127.0.0.1" in voila and "--Voila.token=" in voila
    assert "--allow-root" not in voila  # Voila has no such flag (and no such check)
    # the user's own address replaces ours (Jupyter refuses two)
    remote = lab.app_args("notebook", ["--ip=0.0.0.0"])
    assert [a for a in remote if "ip=" in a] == ["--ip=0.0.0.0"]


def test_lesson_names_pick_one_notebook():
    assert lab.lesson_path("") == lab.EXPLORER and lab.EXPLORER.exists()
    assert lab.lesson_path("05") == ROOT / "lessons" / "05_inside_the_gates.ipynb"
    assert lab.lesson_path("07_how_far_back.ipynb").name == "07_how_far_back.ipynb"
    with pytest.raises(SystemExit, match=r"LESSON=0 names 7 notebooks in lessons/; one of: 01_"):
        lab.lesson_path("0")
    with pytest.raises(SystemExit, match="LESSON=99 names no notebook"):
        lab.lesson_path("99")


@pytest.mark.parametrize("uid", [0, 1000])
@pytest.mark.parametrize("display", [None, ":0"])
def test_lab_args_for_root_and_display(monkeypatch, uid, display):
    monkeypatch.setattr(os, "geteuid", lambda: uid)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if display:
        monkeypatch.setenv("DISPLAY", display)
    else:
        monkeypatch.delenv("DISPLAY", raising=False)
    args = lab.lab_args(["--port=9999"])
    assert args[:3] == [sys.executable, "-m", "jupyterlab"] and args[-1] == "--port=9999"
    assert ("--allow-root" in args) == (uid == 0)
    assert ("--no-browser" in args) == (display is None)
    assert "--LabApp.news_url=None" in args


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def _wait_for(server: subprocess.Popen, url: str, what: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            _get(url)
            return
        except OSError:
            assert server.poll() is None, server.stdout.read().decode(errors="replace")
            assert time.monotonic() < deadline, f"{what} did not answer within 60 s"
            time.sleep(0.5)


def _stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("notebook") is None,
    reason="Notebook 7 is the [frontends] extra: make test installs it, make test-compat does not",
)
def test_notebook_serves_lesson_01_as_this_user(tmp_path):
    """Run as root here (CI, containers): Notebook 7 starts, where bare `jupyter notebook` stops."""
    port = _free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    cmd = [sys.executable, str(ROOT / "tools" / "lab.py"), "--app=notebook", f"--port={port}"]
    cmd += ["--IdentityProvider.token=", "--no-browser"]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(server, f"{base}/api/status", "Notebook 7")
        lesson = json.loads(_get(f"{base}/api/contents/01_vanilla_rnn.ipynb"))
        assert lesson["type"] == "notebook" and lesson["content"]["cells"]
        assert b"<title>" in _get(f"{base}/tree")  # Notebook 7's own page, not JupyterLab's
    finally:
        _stop(server)


@pytest.mark.slow
def test_lab_serves_lesson_01_with_news_off(tmp_path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    env["JUPYTERLAB_SETTINGS_DIR"] = str(tmp_path / "user-settings")  # no user's own choices
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(tmp_path / "workspaces")
    cmd = [sys.executable, str(ROOT / "tools" / "lab.py"), f"--port={port}"]
    cmd += ["--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=", "--no-browser"]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(f"{base}/api/status")
                break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode(errors="replace")
                assert time.monotonic() < deadline, "JupyterLab did not answer within 60 s"
                time.sleep(0.5)
        lesson = json.loads(_get(f"{base}/api/contents/01_vanilla_rnn.ipynb"))
        assert lesson["type"] == "notebook" and lesson["name"] == "01_vanilla_rnn.ipynb"
        assert lesson["content"]["cells"]  # the lesson itself, not an empty file
        settings = json.loads(
            _get(f"{base}/lab/api/settings/@jupyterlab/apputils-extension:notification")
        )
        defaults = settings["schema"]["properties"]  # JupyterLab's defaults, overrides applied
        assert defaults["fetchNews"]["default"] == "false"  # no "fetch news?" prompt
        assert defaults["checkForUpdates"]["default"] is False
        page = _get(f"{base}/lab").decode()
        assert '"news": {"disabled": true}' in page or '"news":{"disabled":true}' in page
    finally:
        _stop(server)
