"""Screenshot the live generation explorer in JupyterLab for the website's landing page.

    .venv/bin/python tools/site/screenshot.py [--out docs/live-explorer.png]

Starts JupyterLab on 127.0.0.1 (a free port, no token) in a temporary folder holding a two-cell
notebook that builds lesson 05's live explorer (the shipped Shakespeare model, the prime, length,
temperature, seed and unit that tools/site/build.py records), runs it in headless Debian Chromium
(never a downloaded browser; every host but 127.0.0.1 refused) and saves the JupyterLab window
with the explorer in view. Run it by hand when the explorer changes and commit the PNG; the site
build only reads it. Takes about a minute.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build import RECORDINGS, ROOT, start_of  # noqa: E402 (this folder's module)

sys.path.append(str(ROOT / "tools"))
from chromium import CHROMIUM, OTHER_HOSTS  # noqa: E402 (tools/chromium.py)
from chromium import FLAGS as ARGS  # noqa: E402

START_S = 600  # JupyterLab's start on a busy 2-core machine can take minutes


def notebook(spec: dict, start: dict) -> dict:
    """The notebook JupyterLab runs: lesson 05's live explorer, generated to the end."""
    code = [
        "import lstmviz\nfrom lstmviz.viz import widgets\n\n"
        f'ckpt = lstmviz.load_pretrained("{spec["model"]}")',
        f"live = widgets.LiveGeneration(ckpt.model, ckpt.vocab, prime={spec['prime']!r}, "
        f"length={spec['length']},\n"
        f"                              temperature={spec['temperature']}, seed={spec['seed']}, "
        f"layer={start['layer']}, name={start['name']!r}, unit={start['unit']})\n"
        "live.run()\nlive",
    ]
    cells = [
        {"cell_type": "code", "metadata": {}, "source": c, "outputs": [], "execution_count": None}
        for c in code
    ]
    return {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "live-explorer.png")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    spec = RECORDINGS["shakespeare"]
    lesson = json.loads((ROOT / "lessons" / f"{spec['lesson']}.ipynb").read_text("utf-8"))
    start = start_of(lesson, spec["widget"])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "root").mkdir()
        (tmp / "root" / "explorer.ipynb").write_text(json.dumps(notebook(spec, start)))
        settings = tmp / "settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        command = [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={tmp / 'root'}",
            "--LabApp.expose_app_in_browser=True",
            f"--LabApp.user_settings_dir={tmp / 'settings'}",
            f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
            "--LabApp.extension_manager=readonly",
            "--LabApp.news_url=None",
            *(["--ServerApp.allow_root=True"] if os.geteuid() == 0 else []),
        ]
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(tmp / "config"),
            "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        }
        log = open(tmp / "lab.log", "w")
        lab = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=tmp, env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + START_S
            while True:
                try:
                    urllib.request.urlopen(url + "/api/status", timeout=5)
                    break
                except OSError:
                    if time.monotonic() > deadline or lab.poll() is not None:
                        log_text = (tmp / "lab.log").read_text()
                        sys.exit(f"error: JupyterLab did not start:\n{log_text}")
                    time.sleep(0.5)
            with sync_playwright() as pw:
                context = pw.chromium.launch_persistent_context(
                    str(tmp / "profile"),
                    executable_path=CHROMIUM,
                    headless=False,
                    args=ARGS,
                    viewport={"width": 1280, "height": 960},
                )
                context.route(OTHER_HOSTS, lambda route: route.abort())
                pg = context.pages[0] if context.pages else context.new_page()
                pg.set_default_timeout(600_000)
                pg.goto(f"{url}/lab/tree/explorer.ipynb?reset")
                pg.wait_for_function(
                    "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                    " && window.jupyterapp.shell.currentWidget.sessionContext"
                    " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                    " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                )
                pg.evaluate(
                    "() => window.jupyterapp.commands.execute('application:toggle-left-area')"
                )
                pg.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
                pg.wait_for_function(
                    "() => { const g = document.querySelectorAll('.lstmviz-live .js-plotly-plot');"
                    " return g.length === 3 && [...g].every(d => d.querySelector('.main-svg')); }"
                )
                pg.wait_for_timeout(1500)  # the last redraws
                cell = pg.locator(".jp-CodeCell").nth(1)
                cell.evaluate("c => c.scrollIntoView({block: 'start'})")
                pg.wait_for_timeout(500)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                pg.screenshot(path=str(args.out))
                pg.evaluate("() => window.jupyterapp.serviceManager.sessions.shutdownAll()")
                context.close()
        finally:
            lab.terminate()
            lab.wait(15)
            log.close()
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} KB)")


if __name__ == "__main__":
    main()
