"""Real-browser test: the explorers notebook in JupyterLab, Notebook 7 and Voila, headless Chromium.

Starts each front-end once on 127.0.0.1 (a free port, no token) in a temporary folder, drives
Debian's Chromium through Python playwright (never a downloaded browser; every host but 127.0.0.1
refused) on a copy of ``tests/browser/explorers.ipynb``, runs all cells (Voila runs them itself,
in the server, before it sends the page) and checks that the plotly figures and the widgets
rendered, that no cell failed, that moving a control redraws a plot and that Generate updates
every live plot and Stop stops; and that clicking a generated character in the live explorer shows
its "why this character?" influence view (a bad index: one message; the toggle goes back).
Screenshots go to the test's tmp folder and /tmp/lstmviz-screens/.

Each front-end runs twice: as is, and with the first widget module held back 2.5 s. anywidget
drops every message to a widget whose module took over 2 s to load, which is what a slow machine
does to the first (cold, 5 MB) plotly FigureWidget; lstmviz.viz.livefig must notice and replace
that figure. Voila creates all the models at once, so there several can die, on a cold first load
too. Each step's time is printed (``pytest -rP`` shows it for passing runs).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[1] / "tools"))
from chromium import CHROMIUM, OTHER_HOSTS  # noqa: E402 (the repository's tools/)
from chromium import FLAGS as ARGS  # noqa: E402

pytestmark = pytest.mark.browser

NOTEBOOK = Path(__file__).parent / "browser" / "explorers.ipynb"
SCREENS = Path("/tmp/lstmviz-screens")
FRONTENDS = ["jupyterlab", "notebook7", "voila"]
SERVER_START_S = 60  # JupyterLab start-up on a busy 2-core machine
RUN_ALL_S = 90  # kernel start + every cell (kaleido PNG snapshots included)
SLOW_FIRST_MODULE = """(() => {
  // Hold back the first widget module anywidget imports (a Blob of plotly's bundle) by %d ms, as a
  // slow machine compiling it cold would. Everything else loads as usual.
  const create = URL.createObjectURL.bind(URL);
  let held = false;
  URL.createObjectURL = (blob) => {
    const url = create(blob);
    if (held || !(blob instanceof Blob) || blob.size < 1e6
        || !(new Error().stack || '').includes('anywidget')) return url;
    held = true;
    console.log('lstmviz-test: holding back the first widget module');
    return create(new Blob([`await new Promise(r => setTimeout(r, %d));
      export * from "${url}"; export { default } from "${url}";`], {type: 'text/javascript'}));
  };
})()"""


def _need_browser() -> None:
    """Fail loudly in CI without Chromium or playwright; elsewhere skip with the reason."""
    problems = []
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        problems.append(
            f"no Chromium at {CHROMIUM} (install Debian's chromium: bash .ci/install-chromium)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append(
            "Python playwright is not installed"
            " (pip install playwright; never `playwright install`)"
        )
    if problems:
        if os.environ.get("CI"):
            pytest.fail("browser test cannot run in CI: " + "; ".join(problems))
        pytest.skip("; ".join(problems))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read()


@dataclass
class Server:
    """One running front-end: its kind, base url, folder it serves, and log file."""

    kind: str  # "jupyterlab", "notebook7" or "voila"
    url: str
    root: Path
    log: Path


def _command(kind: str, port: int, root: Path, tmp: Path) -> list[str]:
    """The command line that starts ``kind`` on 127.0.0.1:port serving ``root``, no token."""
    if kind == "voila":
        # Voila runs the notebook in its own kernel on each page load and shows only the outputs
        return [
            sys.executable,
            "-m",
            "voila",
            "--no-browser",
            "--Voila.ip=127.0.0.1",
            f"--Voila.port={port}",
            "--Voila.port_retries=0",
            "--Voila.token=",
            f"--Voila.root_dir={root}",
            "--show_tracebacks=True",
        ]
    app = {"jupyterlab": "LabApp", "notebook7": "JupyterNotebookApp"}[kind]
    return [
        sys.executable,
        "-m",
        "jupyter",
        "lab" if kind == "jupyterlab" else "notebook",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        f"--ServerApp.root_dir={root}",
        # lets the test call the app's own commands (run all cells) instead of clicking menus
        f"--{app}.expose_app_in_browser=True",
        # no workspace or news pop-ups
        f"--{app}.user_settings_dir={tmp / 'lab-settings'}",
        f"--{app}.workspaces_dir={tmp / 'lab-workspaces'}",
        # no extension-manager network traffic
        *(["--LabApp.extension_manager=readonly"] if kind == "jupyterlab" else []),
        # containers and CI runners often run as root, which Jupyter refuses without this
        *(["--ServerApp.allow_root=True"] if os.geteuid() == 0 else []),
    ]


@pytest.fixture(scope="module", params=FRONTENDS)
def server(request, tmp_path_factory):
    """One running front-end for all the runs against it; yields a ``Server``."""
    _need_browser()
    kind = request.param
    tmp = tmp_path_factory.mktemp(kind)
    root = tmp / "root"
    root.mkdir()
    # our own settings folder: no "get Jupyter news?" pop-up over the screenshots
    settings = tmp / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    port = _free_port()
    log_path = tmp / "server.log"
    log = open(log_path, "w")
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "jupyter-runtime"),
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        _command(kind, port, root, tmp), stdout=log, stderr=subprocess.STDOUT, cwd=root, env=env
    )
    url = f"http://127.0.0.1:{port}"
    # Voila has no REST API; its static files answer once it listens
    probe = "/voila/static/voila.js" if kind == "voila" else "/api/status"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"{kind} exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}"
                )
            try:
                _get(url + probe)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"{kind} did not answer in {SERVER_START_S} s:\n"
                        f"{log_path.read_text()[-3000:]}"
                    )
                time.sleep(0.5)
        yield Server(kind, url, root, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


@pytest.fixture(params=[0, 2500], ids=["as-is", "slow-first-widget-module"])
def page(server, request, tmp_path):
    """A fresh headless Chromium (own profile folder) on a fresh copy of the notebook.

    ``request.param``: milliseconds to hold back the first widget module (0: none). The page's
    console lines are kept in ``pg.console`` for the failure messages. Yields (page, notebook
    name, tmp folder for screenshots).
    """
    from playwright.sync_api import sync_playwright

    hold_ms = request.param
    # a new file per run: a new kernel, not the one the previous run left behind
    name = f"explorers-{hold_ms}.ipynb"
    shutil.copy(NOTEBOOK, server.root / name)
    path = {
        "jupyterlab": f"/lab/tree/{name}?reset",
        "notebook7": f"/notebooks/{name}",
        "voila": f"/voila/render/{name}",
    }[server.kind]
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=False,
            args=ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            # only the local server: Voila's page asks a CDN for icon fonts, which we refuse
            pg = context.pages[0] if context.pages else context.new_page()
            pg.console, pg.hold_ms, pg.refused = [], hold_ms, []
            context.route(OTHER_HOSTS, lambda route: _refuse(route, pg.refused))
            pg.on("console", lambda m: pg.console.append(f"{m.type}: {m.text[:500]}"))
            pg.on("pageerror", lambda e: pg.console.append(f"page error: {e}"))
            if hold_ms:
                pg.add_init_script(SLOW_FIRST_MODULE % (hold_ms, hold_ms))
            pg.set_default_timeout(60_000)  # a busy 2-core CI machine renders slowly
            # Voila answers once it has run every cell
            pg.goto(server.url + path, timeout=RUN_ALL_S * 1000)
            yield pg, name, tmp_path
            _stop_kernels(pg, server.kind)
        finally:
            context.close()


def _refuse(route, refused: list[str]) -> None:
    refused.append(route.request.url)
    route.abort()


def _stop_kernels(pg, kind: str) -> None:
    """Shut down the run's kernel (and its kaleido browser): the next run starts afresh."""
    if kind != "voila":  # Voila ends a page's kernel itself when the page goes
        pg.evaluate("() => window.jupyterapp.serviceManager.sessions.shutdownAll()")


def _shot(target, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    target.screenshot(path=str(path))
    SCREENS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SCREENS / path.name)
    return path


def _show(pg, box: str, n_plots: int) -> None:
    """Scroll an explorer into view and wait until its plots are drawn (JupyterLab draws lazily)."""
    pg.locator(box).scroll_into_view_if_needed()
    try:
        pg.wait_for_function(
            "([sel, n]) => { const gds = document.querySelectorAll(sel + ' .js-plotly-plot');"
            " return gds.length === n && [...gds].every("
            "gd => gd.data && gd.data.length && gd.querySelector('.main-svg')); }",
            arg=[box, n_plots],
        )
    except Exception:
        print(
            "plots (class, traces, drawn):",
            pg.evaluate(
                "(sel) => [...document.querySelectorAll(sel + ' .js-plotly-plot')]"
                ".map(gd => [gd.className, gd.data && gd.data.length,"
                " !!gd.querySelector('.main-svg')])",
                box,
            ),
        )
        print("browser console:", *pg.console[-40:], sep="\n  ")
        raise


def _plot_state(pg, selector: str, index: int) -> str:
    """What a plotly graph shows: its first trace's data and its title, as JSON."""
    state = (
        pg.wait_for_function(  # waits while livefig replaces the graph (none drawn for a moment)
            """([sel, i]) => { const gd = document.querySelectorAll(sel)[i];
               if (!gd || !gd.data || !gd.layout) return false;
               const t = gd.data[0] || {};
               return JSON.stringify([t.z, t.x, t.y, (gd.layout.title || {}).text]); }""",
            arg=[selector, index],
        )
    )
    return state.json_value()


def _run_all(pg, kind: str) -> None:
    """Run every cell (Voila already did, on the server, before it sent the page)."""
    if kind == "voila":
        return
    pg.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
    pg.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.sessionContext"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel",
        timeout=60_000,
    )
    if kind == "jupyterlab":  # more room
        pg.evaluate("() => window.jupyterapp.commands.execute('application:toggle-left-area')")
    pg.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")


def test_explorers_render_and_respond(server, page):
    """In each front-end the explorers draw, a control change redraws, Generate updates live."""
    pg, name, tmp_path = page
    kind = server.kind
    begun = time.monotonic()

    def step(what: str) -> None:  # where the time goes, printed with a failure (pytest -rP: always)
        print(f"{kind} {pg.hold_ms} ms: {time.monotonic() - begun:5.1f} s {what}")

    _run_all(pg, kind)
    pg.wait_for_function(
        "() => document.body.innerText.includes('ALL CELLS DONE')", timeout=RUN_ALL_S * 1000
    )
    step("all cells ran")
    _shot(pg, tmp_path, f"{kind}-top")

    # no failed cell, no widget that could not be shown
    errors = pg.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert errors.count() == 0, "error output: " + "\n".join(errors.all_inner_texts())[:3000]
    assert "Error displaying widget" not in pg.inner_text("body")
    assert "Traceback" not in pg.inner_text("body")

    # every explorer rendered as a widget with its plotly figures
    for cls, n_plots in ((".lstmviz-live", 3), (".lstmviz-cells", 2), (".lstmviz-intervene", 1)):
        box = pg.locator(cls)
        pg.wait_for_selector(cls, state="attached")  # Voila builds widgets after the page loads
        assert box.count() == 1, f"{cls} did not render"
        _show(pg, cls, n_plots)
        assert pg.locator(f"{cls}.jupyter-widgets, {cls} .jupyter-widgets").count() > 0
        _shot(box, tmp_path, f"{kind}-" + cls.strip(".").replace("lstmviz-", "explorer-"))
        step(f"{cls} drawn")
    if pg.hold_ms:  # the slow first module really happened (else this run tests nothing new)
        assert any("holding back the first widget module" in line for line in pg.console), (
            pg.console[-20:]
        )
    # and the plain figure (plotly mimetype) below them; JupyterLab only renders cells near the
    # view, Voila shows no code
    if kind == "voila":
        figure_cell = pg.locator(".jp-CodeCell").filter(has=pg.locator(".jp-RenderedPlotly"))
    else:
        figure_cell = pg.locator(".jp-CodeCell").filter(has_text="plots.heatmap(trace")
    figure_cell.scroll_into_view_if_needed()
    # jupyterlab-plotly first shows the PNG that came with the figure, and swaps in the live plot
    # when the mouse comes over it
    image = figure_cell.locator(".jp-RenderedPlotly img.plot-img")
    if image.count() and image.is_visible():
        image.dispatch_event("mouseenter")
    last = figure_cell.locator(".js-plotly-plot")  # plotly turns the renderer itself into the graph
    last.wait_for()
    assert "forget gate" in last.inner_text()
    _shot(last, tmp_path, f"{kind}-figure-heatmap")
    step("figure drawn")

    # moving a control redraws: show the forget gate instead of the memory cell in the cell explorer
    cells = ".lstmviz-cells .js-plotly-plot"
    _show(pg, ".lstmviz-cells", 2)
    before = [_plot_state(pg, cells, 0), _plot_state(pg, cells, 1)]
    pg.locator(".lstmviz-cells select").nth(1).select_option(label="forget gate Γ_f (f)")
    for i in range(2):  # coloured text and heatmap, each perhaps replaced by livefig first
        _wait_changed(pg, cells, i, before[i], "forget gate")
    after = [_plot_state(pg, cells, 0), _plot_state(pg, cells, 1)]
    assert after[0] != before[0] and after[1] != before[1]
    assert all("forget gate" in json.loads(state)[-1] for state in after)
    _shot(pg.locator(".lstmviz-cells"), tmp_path, f"{kind}-explorer-cells-forget")
    step("control change redrawn")

    # Generate runs in a thread: every live plot changes while the kernel stays free, and Stop
    # (a message that free kernel handles) ends the 5000-character run early; the fixture paces
    # that run at 50 characters a second, so without Stop it would go on for 100 s
    live = ".lstmviz-live"
    plots = f"{live} .js-plotly-plot"
    _show(pg, live, 3)
    old = [_plot_state(pg, plots, i) for i in range(3)]
    text_before = pg.locator(f"{live} pre").inner_text()
    pg.locator(f"{live} button", has_text="Generate").click()
    for i in range(3):  # coloured text, next-character bars, heatmap
        _wait_changed(pg, plots, i, old[i])
    step("Generate updated the live plots")
    pg.locator(f"{live} button", has_text="Stop").click()
    pg.wait_for_function(
        "(sel) => !document.querySelector(sel + ' button.mod-success').disabled",
        arg=live,
        timeout=30_000,
    )
    text_after = pg.locator(f"{live} pre").inner_text()
    assert text_after != text_before
    assert len(text_after) < 4500, "Stop did not stop the paced 5000-character run"
    _shot(pg.locator(live), tmp_path, f"{kind}-explorer-live-after-generate")
    step("stopped")


# a generated character's cell in the live explorer's coloured text: (x, y) in the viewport, its
# index in the text and the character as drawn; the newest one the model read
CLICK_TARGET = """(sel) => {
  const gd = document.querySelectorAll(sel)[0];
  const t = gd.data[0], L = gd._fullLayout;
  let best = [-1, 0, 0];
  t.customdata.forEach((row, r) => row.forEach((v, c) => { if (v > best[0]) best = [v, r, c]; }));
  const [pos, r, c] = best, box = gd.getBoundingClientRect();
  return [box.left + L._size.l + L.xaxis.d2p(c), box.top + L._size.t + L.yaxis.d2p(r), pos,
          t.text[r][c]];
}"""


@pytest.mark.parametrize("page", [0], indirect=True, ids=["as-is"])
def test_why_this_character_view(server, page):
    """Clicking a generated character shows its influence view; bad input, one message; back."""
    pg, name, tmp_path = page
    kind = server.kind
    _run_all(pg, kind)
    pg.wait_for_function(
        "() => document.body.innerText.includes('ALL CELLS DONE')", timeout=RUN_ALL_S * 1000
    )
    live = ".lstmviz-live"
    plots = f"{live} .js-plotly-plot"
    pg.wait_for_selector(live, state="attached")
    _show(pg, live, 3)
    x, y, pos, ch = pg.evaluate(CLICK_TARGET, plots)
    pg.mouse.move(x, y)  # plotly reports a click on the point under the mouse (its hover)
    pg.mouse.click(x, y)
    # the influence view replaces the three gate plots with one, titled by the character
    try:
        pg.wait_for_function(
            "([sel, title]) => { const gds = document.querySelectorAll(sel);"
            " return gds.length === 1 && gds[0].layout && gds[0].data && gds[0].data.length"
            " && (gds[0].layout.title.text || '').startsWith(title); }",
            arg=[plots, f"why '{ch}' (boxed, character {pos})?"],
            timeout=30_000,
        )
    except Exception:
        print("browser console:", *pg.console[-40:], sep="\n  ")
        raise
    box = pg.locator(live)
    assert f"the model wrote '{ch}' with p = " in box.inner_text()
    assert "most influential earlier character" in box.inner_text()
    # every character before the chosen one is coloured (a share of the influence), it is not
    z = pg.evaluate(
        "(sel) => { const t = document.querySelectorAll(sel)[0].data[0];"
        " return [t.customdata, t.z]; }",
        plots,
    )
    cells = {v: z[1][r][c] for r, row in enumerate(z[0]) for c, v in enumerate(row) if v >= 0}
    assert cells[pos] is None and all(cells[t] is not None for t in cells if t < pos)
    _shot(box, tmp_path, f"{kind}-explorer-live-why")
    # a character that is not generated (the prime's first): one readable message, no traceback
    label = pg.get_by_text("character", exact=True)
    char_box = pg.locator(f"{live} .widget-inline-hbox", has=label)
    char_box.locator("input").fill("0")
    char_box.locator("input").press("Enter")
    pg.wait_for_function(
        "(sel) => document.querySelector(sel).innerText.includes("
        "'character 0 is not a generated character')",
        arg=live,
    )
    assert "Traceback" not in pg.inner_text("body")
    # back to the gates: the three gate plots again
    pg.locator(f"{live} button", has_text="gates").click()
    _show(pg, live, 3)
    assert "why '" not in _plot_state(pg, plots, 0)


def _wait_changed(pg, selector: str, index: int, old: str, title: str = "") -> None:
    """Wait until plot ``index`` of ``selector`` shows something else than ``old`` (JSON)."""
    try:
        pg.wait_for_function(
            "([sel, i, old, title]) => { const gd = document.querySelectorAll(sel)[i];"
            " if (!gd || !gd.data || !gd.layout) return false;"  # being replaced (livefig)
            " const t = gd.data[0] || {};"
            " const name = (gd.layout.title || {}).text || '';"
            " return name.includes(title) && JSON.stringify([t.z, t.x, t.y, name]) !== old; }",
            arg=[selector, index, old, title],
            # a figure the browser lost is replaced after livefig.ECHO_S s, then drawn afresh
            timeout=60_000,
        )
    except Exception:
        print("browser console:", *pg.console[-40:], sep="\n  ")
        raise
