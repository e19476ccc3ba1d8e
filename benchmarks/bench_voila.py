"""Time to first figure in Voila: what a reader of `make voila` waits for.

Starts Voila exactly as `make voila` does (tools/lab.py: progressive rendering, 127.0.0.1, no
token) on lessons/explorer.ipynb (or ``--notebook 05``), opens it in a fresh headless Chromium
(its own profile folder, every host but 127.0.0.1 refused) and prints seconds from the request to

- first content: the page's first output (the explorer's loading message);
- first figure: the live explorer's three plotly figures drawn;
- ready: the loading message replaced by the "Press Generate" line;
- first text: after a click on Generate, the coloured text showing generated characters;

and whether any figure was stale at ready (anything but the "Press Generate" placeholder before
the first press). One run; on a shared machine the numbers are noisy.

    python benchmarks/bench_voila.py [--notebook 05] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT / "tools"))
from chromium import CHROMIUM, FLAGS, OTHER_HOSTS  # noqa: E402 (tools/chromium.py)

PLACEHOLDER = "Press Generate"


def _lab():
    """tools/lab.py as a module: the launcher `make voila` runs."""
    spec = importlib.util.spec_from_file_location("lab", ROOT / "tools" / "lab.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(proc: subprocess.Popen, url: str, log: Path, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"Voila did not start:\n{log.read_text()[-2000:]}") from None
            time.sleep(0.25)


def measure(notebook: str, chromium: str) -> dict[str, float | bool | str]:
    """Seconds to each milestone (see the module docstring) for one page load."""
    from playwright.sync_api import sync_playwright

    lab = _lab()
    port = _free_port()
    tmp = Path(tempfile.mkdtemp(prefix="bench-voila-"))
    log = tmp / "voila.log"
    args = lab.app_args("voila", [f"--port={port}", "--no-browser"], lab.lesson_path(notebook))
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"), "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    with open(log, "w") as out:
        server = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    result: dict[str, float | bool | str] = {"notebook": args[3]}
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_for_server(server, f"{url}voila/static/voila.js", log)
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(tmp / "profile"),  # a fresh user-data folder: nothing cached
                executable_path=chromium,
                headless=False,  # --headless=new in FLAGS: Chromium's own headless mode
                args=FLAGS,
                viewport={"width": 1400, "height": 1000},
            )
            context.route(OTHER_HOSTS, lambda route: route.abort())
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(180_000)
            begun = time.monotonic()
            page.goto(url, wait_until="commit")
            page.wait_for_selector(".jp-OutputArea-output", state="attached")
            result["first content s"] = time.monotonic() - begun
            live = ".lstmviz-live"
            page.wait_for_function(
                f"document.querySelectorAll('{live} .js-plotly-plot .main-svg').length >= 3"
            )
            result["first figure s"] = time.monotonic() - begun
            if "explorer" in args[3]:
                page.get_by_text("Press Generate.", exact=False).first.wait_for()
                result["ready s"] = time.monotonic() - begun
                titles = page.eval_on_selector_all(
                    f"{live} .js-plotly-plot .gtitle", "els => els.map(e => e.textContent)"
                )
                # before the first press, the text and heatmap show the placeholder (the bars
                # their bare title): anything else was drawn earlier and not replaced
                result["stale figure at ready"] = sum(PLACEHOLDER in t for t in titles) != 2
                clicked = time.monotonic()
                page.get_by_role("button", name="Generate").click()
                page.wait_for_function(
                    f"[...document.querySelectorAll('{live} .js-plotly-plot .gtitle')]"
                    ".some(e => e.textContent.includes('last '))"
                )
                result["first text after Generate s"] = time.monotonic() - clicked
            context.close()
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notebook", default="", help="LESSON= of make voila (default: explorer)")
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args()
    for key, value in measure(args.notebook, args.chromium).items():
        print(f"{key}: {value:.1f}" if isinstance(value, float) else f"{key}: {value}")


if __name__ == "__main__":
    sys.exit(main())
