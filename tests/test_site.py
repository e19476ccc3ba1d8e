"""The lessons' website in a real browser, offline: built, served on 127.0.0.1, every page opened.

The site is the one `make site` built when LSTMVIZ_SITE names its folder (make site-test), else
this test builds it afresh into a temporary folder (tools/site/build.py; make test). A local
server serves it; headless Debian Chromium (never a downloaded browser) opens every page with
every request to another host refused and recorded, and checks: no console error, no request
that left 127.0.0.1, nothing that failed to load, the math typeset (no raw \\hat or \\langle in
the text, no KaTeX error), alt text on every image and figure, every plotly figure drawn, and at
most 3 MB loaded by any page scrolled through (the sizes are printed). Then a plotly figure
answers a hover, the recorded explorer changes its figure when a unit is picked (on its page and
opened in lesson 05). Screenshots of two pages go to the folder the test prints.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from conftest import local_server
from test_browser import ARGS, CHROMIUM, OTHER_HOSTS, _need_browser

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
SCREENS = Path("/tmp/lstmviz-site-screens")
MAX_PAGE_BYTES = 3_000_000  # the goal for one page with everything it loads
RAW_TEX = re.compile(r"\\(hat|langle|rangle|frac|Gamma|operatorname)\b")


def _need_site_tools() -> None:
    missing = [m for m in ("sphinx", "myst_nb", "furo", "sphinxcontrib.katex") if not _has(m)]
    if not (ROOT / "website" / "node_modules" / "katex").is_dir():
        missing.append("website/node_modules (npm ci --prefix website)")
    if shutil.which("node") is None:
        missing.append("node")
    if missing:
        message = "the website cannot be built: missing " + ", ".join(missing) + " (make site)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The built site's folder: $LSTMVIZ_SITE, or a fresh build."""
    _need_browser()
    given = os.environ.get("LSTMVIZ_SITE")
    if given:
        folder = Path(given).resolve()
        assert (folder / "index.html").is_file(), f"LSTMVIZ_SITE={given} holds no built site"
        return folder
    _need_site_tools()
    spec = importlib.util.spec_from_file_location("site_build", ROOT / "tools/site/build.py")
    build = importlib.util.module_from_spec(spec)
    sys.modules["site_build"] = build
    spec.loader.exec_module(build)
    tmp = tmp_path_factory.mktemp("site")
    build.build(tmp / "site", tmp / "work")
    return tmp / "site"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no line per request in the test output
        pass


@pytest.fixture(scope="module")
def served(site):
    """Base URL of the site on 127.0.0.1."""
    with local_server(functools.partial(_Quiet, directory=str(site))) as url:
        yield url


@pytest.fixture(scope="module")
def browser(served, tmp_path_factory):
    """One headless Chromium for every page: (context, log of refused URLs)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("profile")),
            executable_path=CHROMIUM,
            headless=False,
            args=ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        refused: list[str] = []

        def refuse(route):
            refused.append(route.request.url)
            route.abort()

        context.route(OTHER_HOSTS, refuse)
        try:
            yield context, refused
        finally:
            context.close()


class Page:
    """A page opened in the browser, with what it logged and loaded."""

    def __init__(self, context, url: str):
        self.pg = context.new_page()
        self.console: list[str] = []
        self.failed: list[str] = []
        self.loaded: set[str] = set()
        self.pg.on("console", lambda m: m.type == "error" and self.console.append(m.text))
        self.pg.on("pageerror", lambda e: self.console.append(f"page error: {e}"))
        self.pg.on("requestfailed", lambda r: self.failed.append(r.url))
        self.pg.on("response", self._response)
        self.pg.set_default_timeout(120_000)  # a busy 2-core machine
        self.pg.goto(url, wait_until="load")

    def _response(self, response) -> None:
        if response.status >= 400:
            self.failed.append(f"{response.status} {response.url}")
        else:
            self.loaded.add(response.url)

    def bytes_loaded(self, site: Path) -> int:
        """Bytes of every file the page loaded from the site (served uncompressed)."""
        total = 0
        for url in self.loaded:
            path = site / unquote(urlparse(url).path).lstrip("/")
            if path.is_dir():
                path = path / "index.html"
            total += path.stat().st_size if path.is_file() else 0
        return total

    def scroll_through(self) -> None:
        """Scroll to the end in screen steps, so every figure near the view gets drawn."""
        height = self.pg.evaluate("document.body.scrollHeight")
        for y in range(0, height + 1000, 800):
            self.pg.evaluate(f"window.scrollTo(0, {y})")
            self.pg.wait_for_timeout(60)
        figures = self.pg.locator(".lstmviz-plot").count()
        if figures:
            self.pg.wait_for_function(
                "n => document.querySelectorAll('.lstmviz-plot[data-ready]').length === n",
                arg=figures,
            )


def _pages(site: Path) -> list[str]:
    skip = {"genindex.html", "search.html", "py-modindex.html"}
    return sorted(
        str(p.relative_to(site))
        for p in site.rglob("*.html")
        if p.name not in skip and p.relative_to(site).parts[0] not in ("_static", "notebooks")
    )


def test_every_page_loads_offline_with_math_alt_text_and_figures(site, served, browser):
    context, refused = browser
    pages = _pages(site)
    lessons = [p for p in pages if p.startswith("lessons/")]
    assert len(lessons) == len(list((ROOT / "lessons").glob("[0-9]*.ipynb"))) >= 7
    assert {"index.html", "explorer.html", "reference.html"} <= set(pages)
    assert any(p.startswith("generated/lstmviz.viz.export") for p in pages)  # the reference
    sizes = []
    for rel in pages:
        page = Page(context, f"{served}/{rel}")
        try:
            page.scroll_through()
            pg = page.pg
            text = pg.inner_text("body")
            assert not RAW_TEX.search(text), f"{rel}: raw TeX {RAW_TEX.search(text)[0]!r}"
            assert pg.locator(".katex-error").count() == 0, rel
            no_alt = pg.locator("img:not([alt]), img[alt='']")
            assert no_alt.count() == 0, f"{rel}: images without alt text"
            for caption in pg.locator(".lstmviz-figure figcaption").all_inner_texts():
                assert len(caption) > 20, f"{rel}: alt text {caption!r}"
            drawn = pg.evaluate(
                "() => [...document.querySelectorAll('.lstmviz-plot')]"
                ".map(gd => !!gd.querySelector('.main-svg') && Array.isArray(gd.data))"
            )
            assert all(drawn), f"{rel}: figures not drawn: {drawn}"
            if rel.startswith("lessons/"):
                assert len(drawn) > 0 and pg.locator(".katex").count() > 0, rel
                assert "not answered yet" not in text, rel
            assert not page.console, f"{rel}: console errors {page.console}"
            assert not page.failed, f"{rel}: failed to load {page.failed}"
            sizes.append((rel, page.bytes_loaded(site)))
        finally:
            page.pg.close()
    assert not refused, f"requests to other hosts: {refused[:10]}"
    print("bytes loaded per page, scrolled through (MB):")
    for rel, size in sorted(sizes, key=lambda s: -s[1])[:12]:
        print(f"  {rel:50s} {size / 1e6:.2f}")
    worst = max(sizes, key=lambda s: s[1])
    assert worst[1] <= MAX_PAGE_BYTES, f"{worst[0]} loads {worst[1] / 1e6:.2f} MB"


def _shot(target, tmp_path: Path, name: str, **options) -> None:
    """A screenshot in the test's tmp folder and in SCREENS, for a person to look at."""
    path = tmp_path / f"{name}.png"
    target.screenshot(path=str(path), **options)
    SCREENS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SCREENS / path.name)
    print(f"screenshot: {SCREENS / path.name} (and {path})")


HOVER_TARGET = """(gd) => {
  // the middle point of the first line trace with numbers on both axes: its place on the screen
  const t = gd.data.find(t => (t.type || 'scatter') === 'scatter' && t.x && t.x.length > 2
                        && t.mode && t.mode.includes('lines'));
  if (!t) return null;
  const i = Math.floor(t.x.length / 2), L = gd._fullLayout, box = gd.getBoundingClientRect();
  const xa = L[(t.xaxis || 'x').replace('x', 'xaxis')];
  const ya = L[(t.yaxis || 'y').replace('y', 'yaxis')];
  return [box.left + xa._offset + xa.d2p(t.x[i]), box.top + ya._offset + ya.d2p(t.y[i])];
}"""


def test_a_plotly_figure_answers_a_hover(site, served, browser, tmp_path):
    context, refused = browser
    page = Page(context, f"{served}/lessons/02_vanishing_gradients.html")
    pg = page.pg
    try:
        figure = pg.locator(".lstmviz-plot").first
        figure.scroll_into_view_if_needed()
        pg.wait_for_selector(".lstmviz-plot[data-ready] .main-svg")
        assert pg.locator(".hoverlayer .hovertext").count() == 0
        x, y = figure.evaluate(HOVER_TARGET)
        pg.mouse.move(x - 30, y)
        pg.mouse.move(x, y, steps=5)
        label = figure.locator(".hoverlayer .hovertext").first
        label.wait_for()
        assert label.text_content().strip(), "an empty hover label"
        _shot(figure, tmp_path, "lesson-02-figure-hover")
        _shot(pg, tmp_path, "lesson-02-page")
        assert not page.console and not refused, (page.console, refused)
    finally:
        pg.close()


def _explorer_responds(frame) -> str:
    """Pick another unit in a recorded explorer's grid: its line, text and table change."""
    root = frame.locator("#lx[data-ready='1']")
    root.wait_for()
    unit = int(root.get_attribute("data-unit"))
    line = frame.locator("polyline.lx-series").get_attribute("points")
    colours = "box => [...box.querySelectorAll('span')].map(s => s.style.background).join()"
    before = frame.locator(".lx-text").evaluate(colours)
    other = (unit + 7) % (int(frame.locator("input[name=unit]").get_attribute("max")) + 1)
    frame.locator(f".lx-grid rect[data-unit='{other}']").click()
    assert root.get_attribute("data-unit") == str(other)
    assert frame.locator("input[name=unit]").input_value() == str(other)
    assert frame.locator("polyline.lx-series").get_attribute("points") != line
    assert frame.locator(".lx-text").evaluate(colours) != before
    assert frame.locator(".lx-table-title").inner_text().startswith(f"unit {other} of layer")
    # and moving along the text moves the marker
    marker = frame.locator("line.lx-now").get_attribute("x1")
    frame.locator(".lx-text span").nth(40).click()
    assert root.get_attribute("data-position") == "40"
    assert frame.locator("line.lx-now").get_attribute("x1") != marker
    return str(other)


def test_the_recorded_explorer_changes_its_figure_when_a_unit_is_picked(
    site, served, browser, tmp_path
):
    context, refused = browser
    page = Page(context, f"{served}/explorer.html")
    try:
        frame = page.pg.frame_locator("iframe.lstmviz-frame")
        _explorer_responds(frame)
        page.pg.locator("iframe.lstmviz-frame").scroll_into_view_if_needed()
        _shot(page.pg, tmp_path, "explorer-page", full_page=True)
        assert not page.console and not page.failed and not refused
    finally:
        page.pg.close()
    # lesson 05: the recorded explorer opens in place of the live one, on request
    page = Page(context, f"{served}/lessons/05_inside_the_gates.html")
    try:
        box = page.pg.locator(".lstmviz-recorded")
        assert box.count() == 1
        assert page.pg.locator("iframe.lstmviz-frame").count() == 0  # nothing loaded before
        box.locator("button.lstmviz-open").click()
        _explorer_responds(page.pg.frame_locator(".lstmviz-recorded iframe.lstmviz-frame"))
        box.scroll_into_view_if_needed()
        _shot(box, tmp_path, "lesson-05-recorded-explorer")
        assert not page.console and not page.failed and not refused
    finally:
        page.pg.close()
