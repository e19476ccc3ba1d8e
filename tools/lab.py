"""Open the lessons in JupyterLab: what `make lab` runs, as root or not, offline, headless or not.

    .venv/bin/python tools/lab.py [extra jupyter lab options, e.g. --port=8888]

Settings, and why:
- ``--allow-root`` only for root: Jupyter refuses to start as root without it (a Docker or
  classroom container, many cloud boxes), and a normal user does not need it.
- ``--no-browser`` on Linux with no display (no $DISPLAY or $WAYLAND_DISPLAY): there is nothing
  to open, and Python's webbrowser would fall back to a text browser in the terminal. Open the URL
  that Jupyter prints instead (or forward the port).
- JupyterLab's news feed and update check off (``--LabApp.news_url=None`` and the
  ``fetchNews``/``checkForUpdates`` defaults in tools/jupyterlab/overrides.json): no prompt asking
  to fetch news from the internet, which an offline classroom does not want.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ROOT / "lessons"
SETTINGS = ROOT / "tools" / "jupyterlab"  # holds overrides.json (JupyterLab's default settings)


def lab_args(extra: list[str]) -> list[str]:
    """The ``jupyter lab`` command line for this user and machine, then ``extra`` options."""
    args = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={LESSONS}"]
    args += ["--LabApp.news_url=None", f"--LabApp.app_settings_dir={SETTINGS}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    headless = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if sys.platform.startswith("linux") and headless:
        args.append("--no-browser")
    return args + extra


def main() -> None:
    args = lab_args(sys.argv[1:])
    print(" ".join(args[1:]), flush=True)
    os.execv(args[0], args)


if __name__ == "__main__":
    main()
