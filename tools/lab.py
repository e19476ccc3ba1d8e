"""Open the lessons: what `make lab`, `make notebook` and `make voila` run, as root or not,
offline, headless or not.

    .venv/bin/python tools/lab.py [extra jupyter lab options, e.g. --port=8888]
    .venv/bin/python tools/lab.py --app=notebook [extra options]
    .venv/bin/python tools/lab.py --app=voila [--notebook=lessons/05_inside_the_gates.ipynb] [...]

Settings, and why:
- ``127.0.0.1``: the server listens on this machine only (Jupyter's "localhost" may also resolve
  to an IPv6 address, or to nothing in a bare container).
- ``--allow-root`` only for root (JupyterLab, Notebook): Jupyter refuses to start as root without
  it (a Docker or classroom container, many cloud boxes), and a normal user does not need it.
  Voila has no such check.
- ``--no-browser`` on Linux with no display (no $DISPLAY or $WAYLAND_DISPLAY): there is nothing
  to open, and Python's webbrowser would fall back to a text browser in the terminal. Open the URL
  that Jupyter prints instead (or forward the port); it carries the token, so nothing asks for one.
- JupyterLab's and Notebook 7's news feed and update check off (``--LabApp.news_url=None`` and the
  ``fetchNews``/``checkForUpdates`` defaults in tools/jupyterlab/overrides.json): no prompt asking
  to fetch news from the internet, which an offline classroom does not want.
- Voila: no token (it serves one read-only page of outputs, on 127.0.0.1 only), so its URL opens
  as printed; by default the explorer notebook, which opens in seconds
  (benchmarks/bench_voila.py measures it). Voila's own page says which cell it is running until
  then. (Its progressive rendering, which would show each output as it comes, drew the explorer's
  figures and then lost them on a busy machine: not used.)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ROOT / "lessons"
SETTINGS = ROOT / "tools" / "jupyterlab"  # holds overrides.json (JupyterLab's default settings)
EXPLORER = LESSONS / "explorer.ipynb"  # what `make voila` opens unless LESSON= names a lesson
IP = "127.0.0.1"
APPS = ("lab", "notebook", "voila")


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _headless() -> bool:
    """Linux with no display: nothing to open a browser on."""
    display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    return sys.platform.startswith("linux") and not display


def lab_args(extra: list[str]) -> list[str]:
    """The ``jupyter lab`` command line for this user and machine, then ``extra`` options."""
    return app_args("lab", extra)


def app_args(app: str, extra: list[str], notebook: Path | None = None) -> list[str]:
    """The command line that opens the lessons in ``app`` (lab, notebook or voila), then
    ``extra`` options; ``notebook``: the one Voila shows (default: the explorer)."""
    if app == "voila":
        args = [sys.executable, "-m", "voila", str(notebook or EXPLORER), f"--Voila.ip={IP}"]
        args += ["--Voila.token=", f"--Voila.root_dir={LESSONS}"]
        ip_flags = ("--Voila.ip", "--ip")
    else:
        module, settings = {
            "lab": ("jupyterlab", "LabApp"),
            "notebook": ("notebook", "JupyterNotebookApp"),
        }[app]
        args = [sys.executable, "-m", module, f"--ServerApp.root_dir={LESSONS}"]
        args += [f"--ServerApp.ip={IP}", f"--{settings}.app_settings_dir={SETTINGS}"]
        ip_flags = ("--ServerApp.ip", "--ip")
        if app == "lab":
            args.append("--LabApp.news_url=None")
        if _is_root():
            args.append("--allow-root")
    if _headless():
        args.append("--no-browser")
    if any(arg.startswith(ip_flags) for arg in extra):  # the user's own (Jupyter takes only one)
        args = [arg for arg in args if not arg.startswith(ip_flags)]
    return args + extra


def lesson_path(name: str) -> Path:
    """The notebook ``LESSON=`` names: "05" or "05_inside_the_gates" -> lessons/05_....ipynb;
    "" -> the explorer. Exits with one line when none or several match."""
    if not name:
        return EXPLORER
    stem = name.removesuffix(".ipynb")
    matches = sorted(LESSONS.glob(f"{stem}*.ipynb"))
    if len(matches) != 1:
        known = ", ".join(p.stem for p in sorted(LESSONS.glob("*.ipynb")))
        what = "no notebook" if not matches else f"{len(matches)} notebooks"
        raise SystemExit(f"error: LESSON={name} names {what} in lessons/; one of: {known}")
    return matches[0]


def main(argv: list[str] | None = None) -> None:
    """Parse ``--app=`` and ``--notebook=`` (the rest goes to the app), then exec the app."""
    argv = list(sys.argv[1:] if argv is None else argv)
    app, notebook = "lab", ""
    for arg in list(argv):
        if arg.startswith("--app="):
            app = arg.split("=", 1)[1]
            argv.remove(arg)
        elif arg.startswith("--notebook="):
            notebook = arg.split("=", 1)[1]
            argv.remove(arg)
    if app not in APPS:
        raise SystemExit(f"error: --app={app} is not one of {', '.join(APPS)}")
    args = app_args(app, argv, lesson_path(notebook) if app == "voila" else None)
    print(" ".join(args[1:]), flush=True)
    os.execv(args[0], args)


if __name__ == "__main__":
    main()
