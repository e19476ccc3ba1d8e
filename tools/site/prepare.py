"""Turn a committed lesson into the notebook the website is built from (no re-execution).

What changes, output by output (the lesson file itself is never touched):

- a plotly figure (``application/vnd.plotly.v1+json``) becomes an HTML ``<figure>`` that the
  site's script draws with the plotly.js shipped in the site, from the stored figure JSON; its
  PNG twin is dropped (the interactive figure replaces it). Every figure gets alt text: the
  cell's ``mystnb.image.alt`` metadata if a lesson sets one, else one written from the figure's
  kind, title, axes, series and labels (``alt_text``).
- a live widget (``application/vnd.jupyter.widget-view+json``) cannot run without a kernel: its
  PNG snapshot stays, with alt text from the widget's name and settings, and a note under it. A
  widget listed in ``recorded`` gets a recorded explorer (``lstmviz.viz.export_html``) that the
  reader opens in place.
- "Exercise N: not answered yet. Replace the ... " lines (a lesson run without answers) become
  one box saying where the answer is checked when the lesson runs in Jupyter.
- the ``# NBVAL_CHECK_OUTPUT`` first line (a test marker) is taken off the code cell.
- the launch cells on top (tag ``lstmviz-launch``: Colab and Binder badges, the install cell,
  written by tools/links.py) are left out: they are for running the notebook, and the badges'
  images come from other hosts, which the site never asks.

Needs neither plotly nor Sphinx: the site's tests import it anywhere lstmviz imports.
"""

from __future__ import annotations

import copy
import html
import json
import re
from typing import Any

from lstmviz.core.names import LABELS

PLOTLY = "application/vnd.plotly.v1+json"
WIDGET = "application/vnd.jupyter.widget-view+json"
MARKER = "# NBVAL_CHECK_OUTPUT"
LAUNCH = "lstmviz-launch"  # tools/links.py's TAG (tests/test_links.py checks they agree)
#: trace types in plotly.js's "cartesian" bundle, the one the site ships (1.5 MB, not 4.8 MB)
CARTESIAN = {
    "bar",
    "box",
    "contour",
    "heatmap",
    "histogram",
    "histogram2d",
    "histogram2dcontour",
    "image",
    "pie",
    "scatter",
    "scatterternary",
    "violin",
}
UNANSWERED = re.compile(
    r"^Exercise (?P<name>.+?): not answered yet\. Replace the \.\.\. with your answer and run "
    r"the cell again \(a worked solution is in lessons/solutions/\)\.$"
)
WIDGET_REPR = re.compile(r"^<lstmviz (?P<kind>\w+): (?P<settings>.*)>$")
MAX_LISTED = 8  # series or labels named in one alt text


# ----------------------------------------------------------------------------- alt text
def plain(text: Any) -> str:
    """Plotly's text without its HTML: ``Γ<sub>f</sub>`` -> ``Γ_f``, ``<br>`` -> a space."""
    text = re.sub(r"<br\s*/?>", " ", str(text or ""))
    text = re.sub(r"<sub>(.*?)</sub>", r"_\1", text)
    text = re.sub(r"<sup>(.*?)</sup>", r"^\1", text)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", text)).split())


def _title(thing: Any) -> str:
    if isinstance(thing, dict):
        return plain(thing.get("text", ""))
    return plain(thing)


def _kind(traces: list[dict]) -> str:
    kinds = []
    for t in traces:
        kind = t.get("type", "scatter")
        if kind == "heatmap" and (t.get("texttemplate") or t.get("text")):
            kind = "coloured text"  # plots.coloured_text: characters on a coloured grid
        if kind == "scatter":
            mode = t.get("mode", "lines")
            kind = "line" if "lines" in mode else "text" if mode == "text" else "dot"
        if kind not in kinds:
            kinds.append(kind)
    words = {
        "line": "line chart",
        "dot": "scatter plot",
        "bar": "bar chart",
        "heatmap": "heatmap",
        "coloured text": "text coloured by value",
        "text": "labelled chart",
    }
    named = [words.get(k, f"{k} chart") for k in kinds]
    return " with ".join(named[:2]) if named else "diagram"


def _listed(names: list[str]) -> str:
    unique = list(dict.fromkeys(n for n in names if n))
    more = len(unique) - MAX_LISTED
    return "; ".join(unique[:MAX_LISTED]) + (f"; and {more} more" if more > 0 else "")


def alt_text(fig: dict) -> str:
    """What a plotly figure (its JSON dict) shows, in one paragraph for a reader who can't see it.

    Its kind (line chart, bar chart, heatmap, diagram), title, every axis title, the named series,
    colour-bar titles and subplot titles or labels (annotations).
    """
    layout = fig.get("layout", {})
    traces = [t for t in fig.get("data", []) if t.get("visible", True) is not False]
    shown = [t for t in traces if t.get("showlegend", True) is not False and t.get("opacity") != 0]
    axes = []
    for key in sorted(layout, key=lambda k: (k[0], len(k), k)):
        if re.fullmatch(r"[xy]axis\d*", key) and layout[key].get("visible", True) is not False:
            title = _title(layout[key].get("title"))
            side = {"right": "right axis", "top": "top axis"}.get(layout[key].get("side", ""))
            if title:
                axes.append(f"{side or key[0] + ' axis'}: {title}")
    kind = _kind(traces) if axes or not traces else _kind(traces).replace("chart", "figure")
    parts = [kind[0].upper() + kind[1:]]
    title = _title(layout.get("title"))
    if title:
        parts[0] += f": {title}"
    if axes:
        parts.append(", ".join(dict.fromkeys(axes)))
    series = [plain(t.get("name", "")) for t in shown if t.get("type", "scatter") != "heatmap"]
    if len([s for s in series if s]) > 1:
        parts.append("series: " + _listed(series))
    bars = [_title((t.get("colorbar") or {}).get("title")) for t in traces]
    bars += [_title(((layout.get("coloraxis") or {}).get("colorbar") or {}).get("title"))]
    if any(bars):
        parts.append("colour: " + _listed(bars))
    labels = [plain(a.get("text", "")) for a in layout.get("annotations", [])]
    if any(labels):
        parts.append(("labels: " if not axes else "notes: ") + _listed(labels))
    return ". ".join(parts) + "."


# ----------------------------------------------------------------------------- outputs
def _json_for_html(obj: Any) -> str:
    """JSON safe inside a <script> element: no "<" that could close it."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def figure_html(fig: dict, alt: str) -> str:
    """A plotly figure as the site draws it: a sized box, the figure's JSON, the alt text."""
    layout = fig.get("layout", {})
    height = int(layout.get("height") or 450)
    bundle = "cartesian"
    if any(t.get("type", "scatter") not in CARTESIAN for t in fig.get("data", [])):
        bundle = "full"
    return (
        '<figure class="lstmviz-figure">'
        f'<div class="lstmviz-plot" data-bundle="{bundle}" style="min-height:{height}px"></div>'
        f'<script type="application/json" class="lstmviz-plot-data">{_json_for_html(fig)}</script>'
        f'<figcaption class="lstmviz-alt">{html.escape(alt)}</figcaption>'
        "</figure>"
    )


def _words(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", camel).lower()


def widget_alt(text_plain: str) -> str:
    """Alt text for a widget's PNG snapshot, from its text repr (``<lstmviz Kind: settings>``)."""
    m = WIDGET_REPR.match(text_plain.strip())
    if m:
        kind = _words(m["kind"])
        kind = kind if kind.endswith("explorer") else kind + " explorer"
        found = dict(re.findall(r"(\w+)='?([^,']+)'?", m["settings"]))
        shows = ""
        if {"layer", "name", "unit"} <= set(found):
            label = LABELS.get(found["name"], found["name"])
            shows = f", showing unit {found['unit']} of layer {found['layer']}: {label}"
        return (
            f"Snapshot of the {kind} as the lesson ran{shows}. Static image; the explorer "
            "itself runs in Jupyter"
        )
    name, _, settings = text_plain.strip().partition("(")
    what = _words(name) or "widget"
    return f"Snapshot of the {what} as the lesson ran" + (
        f" ({settings.rstrip(')')})" if settings else ""
    )


def exercise_note(names: list[str], solutions: str) -> str:
    """The box that replaces "not answered yet" lines: what the check does when the lesson runs."""
    listed = " and ".join(f"<strong>exercise {html.escape(n)}</strong>" for n in names)
    return (
        '<div class="lstmviz-exercise">'
        f"<p>✎ Your turn: this cell checks {listed} when you run the lesson in Jupyter. "
        "Replace the <code>...</code> in the exercise cell with your answer and run both cells: "
        "it then says <em>correct</em>, or gives a hint. "
        f"A worked solution is in <code>{html.escape(solutions)}</code>.</p></div>"
    )


def recorded_html(spec: dict, page: str, standalone: str) -> str:
    """The box where a recorded explorer opens in place (the site's script adds the frame)."""
    size = f"{spec['bytes'] / 1e6:.1f} MB"
    return (
        f'<div class="lstmviz-recorded" data-src="{html.escape(page)}" '
        f'data-title="{html.escape(spec["title"])}">'
        "<p><strong>Recorded explorer.</strong> This website has no Python kernel, so the live "
        "explorer above is a snapshot. Here the same model's gates and memory cells are "
        f"recorded over a passage it wrote from {html.escape(spec['description'])}: pick a "
        "layer, what to show "
        "(Γ<sub>u</sub>, Γ<sub>f</sub>, ĉ, Γ<sub>o</sub>, c, a) and a unit, and move along "
        "the text.</p>"
        f'<p><button type="button" class="lstmviz-open">Open the recorded explorer here '
        f"({size})</button> or "
        f'<a href="{html.escape(standalone)}">on its own page</a>.</p></div>'
    )


def _stream_lines(output: dict) -> list[str]:
    text = output.get("text", "")
    return ("".join(text) if isinstance(text, list) else text).splitlines(keepends=True)


def _html_output(markup: str) -> dict:
    return {"output_type": "display_data", "metadata": {}, "data": {"text/html": markup}}


def download_note(download: str, colab: str | None = None) -> dict:
    """A markdown cell under the lesson's title: the notebook itself, to run (and in Colab)."""
    elsewhere = (
        f' Or open it in <a href="{html.escape(colab)}">Colab</a>: its first cell installs '
        "lstmviz there."
        if colab
        else ""
    )
    return {
        "cell_type": "markdown",
        "metadata": {},
        "source": (
            '<p class="lstmviz-download">This page shows the lesson as it last ran. To run it, '
            "change it and do the exercises, open it in JupyterLab: download "
            f'<a href="../notebooks/{html.escape(download)}" download>{html.escape(download)}</a> '
            "or, in a copy of the repository, run <code>make lab</code> (see '"
            '<a href="../index.html#run-the-lessons">Run the lessons</a>\').'
            f"{elsewhere}</p>"
        ),
    }


def prepare_notebook(
    nb: dict,
    solutions: str,
    recorded: dict[str, tuple[dict, str, str]] | None = None,
    download: str | None = None,
    colab: str | None = None,
) -> dict:
    """A copy of lesson ``nb`` (nbformat 4 JSON as a dict) as the website shows it.

    ``solutions``: the path named in exercise boxes. ``recorded``: widget kind (e.g.
    ``"LiveGeneration"``) -> (recording spec, explorer page URL, standalone page URL); the first
    widget of that kind gets the recorded explorer under its snapshot. ``download``: the file
    name under ``notebooks/`` that a note under the title offers, with ``colab``: the lesson's
    address in Colab (tools/links.py), which the note offers too.
    """
    nb = copy.deepcopy(nb)
    nb["cells"] = [c for c in nb["cells"] if LAUNCH not in c.get("metadata", {}).get("tags", [])]
    nb.get("metadata", {}).pop("widgets", None)  # no widget state: myst-nb loads no widget JS
    pending = dict(recorded or {})
    if download:  # right under the title (the first cell's first line), else on top
        cells = nb["cells"]
        first = "".join(cells[0]["source"]) if cells and cells[0]["cell_type"] == "markdown" else ""
        title, _, rest = first.partition("\n")
        if title.startswith("# "):
            cells[0] = {**cells[0], "source": title + "\n"}
            body = {"cell_type": "markdown", "metadata": {}, "source": rest.lstrip("\n")}
            cells[1:1] = [download_note(download, colab), body]
        else:
            cells.insert(0, download_note(download, colab))
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if source.startswith(MARKER):
            cell["source"] = source[len(MARKER) :].lstrip("\n")
        outputs = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if PLOTLY in data:
                fig = data[PLOTLY]
                meta = cell.get("metadata", {}).get("mystnb", {}).get("image", {})
                alt = meta.get("alt") or alt_text(fig)
                outputs.append(_html_output(figure_html(fig, alt)))
            elif WIDGET in data:
                text = "".join(data.get("text/plain", ""))
                if "image/png" not in data:  # nothing to show but its text: keep that
                    outputs.append({**out, "data": {"text/plain": text}})
                    continue
                meta = cell.setdefault("metadata", {}).setdefault("mystnb", {})
                meta.setdefault("image", {}).setdefault("alt", widget_alt(text))
                outputs.append({**out, "data": {"image/png": data["image/png"]}})
                kind = (WIDGET_REPR.match(text.strip()) or {"kind": ""})["kind"] if text else ""
                if kind in pending:
                    spec, page, standalone = pending.pop(kind)
                    outputs.append(_html_output(recorded_html(spec, page, standalone)))
            elif out.get("output_type") == "stream" and out.get("name") == "stdout":
                lines = _stream_lines(out)
                names = [m["name"] for m in (UNANSWERED.match(x.rstrip("\n")) for x in lines) if m]
                if names:
                    outputs.append(_html_output(exercise_note(names, solutions)))
                    rest = [x for x in lines if not UNANSWERED.match(x.rstrip("\n"))]
                    if rest:
                        outputs.append({**out, "text": "".join(rest)})
                else:
                    outputs.append(out)
            else:
                outputs.append(out)
        cell["outputs"] = outputs
    return nb


def figures(nb: dict) -> list[dict]:
    """Every plotly figure stored in a notebook, in order."""
    return [
        out["data"][PLOTLY]
        for cell in nb["cells"]
        for out in cell.get("outputs", [])
        if PLOTLY in out.get("data", {})
    ]
