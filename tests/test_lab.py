"""`make lab`'s command (tools/lab.py) starts JupyterLab, serves lesson 01, news prompt off."""

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


def test_make_lab_runs_tools_lab():
    recipe = re.search(r"^lab:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert recipe and "tools/lab.py" in recipe.group(1)


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
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
