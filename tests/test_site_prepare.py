"""tools/site/prepare.py: what a lesson becomes on the website (figures, alt text, exercises)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("prepare", ROOT / "tools" / "site" / "prepare.py")
prepare = importlib.util.module_from_spec(spec)
spec.loader.exec_module(prepare)

LINE = {
    "data": [
        {"type": "scatter", "mode": "lines", "name": "RNN, ρ = 0.5", "x": [0, 1], "y": [1, 2]},
        {"type": "scatter", "mode": "lines", "name": "LSTM", "x": [0, 1], "y": [2, 1]},
        {"type": "scatter", "name": "twin", "showlegend": False, "opacity": 0, "y": [1, 1]},
    ],
    "layout": {
        "title": {"text": "Gradient of Γ<sub>f</sub> vs lag"},
        "xaxis": {"title": {"text": "lag"}},
        "yaxis": {"title": {"text": "‖∂L/∂a‖"}},
        "yaxis2": {"title": {"text": "bits"}, "side": "right", "overlaying": "y"},
        "annotations": [{"text": "chance (25%)"}],
    },
}
UNANSWERED = (
    "Exercise {}: not answered yet. Replace the ... with your answer and run the cell again "
    "(a worked solution is in lessons/solutions/).\n"
)


def cell(outputs, source="x = 1", metadata=None):
    return {
        "cell_type": "code",
        "source": source,
        "metadata": metadata or {},
        "outputs": outputs,
        "execution_count": 1,
    }


def notebook(*cells):
    first = {"cell_type": "markdown", "metadata": {}, "source": "# 01 — Title\n\nIntro $x$."}
    return {"cells": [first, *cells], "metadata": {"widgets": {"state": {}}}, "nbformat": 4}


def test_alt_text_says_kind_title_axes_series_and_notes_without_html():
    alt = prepare.alt_text(LINE)
    assert alt == (
        "Line chart: Gradient of Γ_f vs lag. x axis: lag, y axis: ‖∂L/∂a‖, right axis: bits. "
        "series: RNN, ρ = 0.5; LSTM. notes: chance (25%)."
    )


def test_alt_text_of_a_diagram_coloured_text_and_bars():
    diagram = {
        "data": [],
        "layout": {
            "title": {"text": "One LSTM step"},
            "xaxis": {"visible": False},
            "annotations": [{"text": "c⟨t−1⟩"}, {"text": "×"}],
        },
    }
    assert prepare.alt_text(diagram) == "Diagram: One LSTM step. labels: c⟨t−1⟩; ×."
    text = {
        "data": [{"type": "heatmap", "z": [[1]], "text": [["a"]], "texttemplate": "%{text}"}],
        "layout": {"title": {"text": "cell 455"}, "coloraxis": {"colorbar": {"title": "c"}}},
    }
    assert prepare.alt_text(text) == "Text coloured by value: cell 455. colour: c."
    many = {
        "data": [{"type": "bar", "name": f"s{i}", "y": [1]} for i in range(11)],
        "layout": {"xaxis": {"title": "kind"}},
    }
    assert prepare.alt_text(many).endswith("series: s0; s1; s2; s3; s4; s5; s6; s7; and 3 more.")


def test_a_plotly_output_becomes_a_figure_with_its_json_and_alt_text_and_no_png():
    fig = json.loads(json.dumps(LINE))
    fig["layout"]["title"]["text"] = "</script><script>alert(1)</script>"
    out = {
        "output_type": "display_data",
        "metadata": {},
        "data": {prepare.PLOTLY: fig, "image/png": "iVBORw0", "text/html": "<div>"},
    }
    nb = prepare.prepare_notebook(notebook(cell([out])), "lessons/solutions/01_x.py")
    (html,) = [o["data"]["text/html"] for o in nb["cells"][1]["outputs"]]
    assert list(nb["cells"][1]["outputs"][0]["data"]) == ["text/html"]
    assert html.count("</script>") == 1  # the figure's title cannot close the data block
    data = re.search(r'class="lstmviz-plot-data">(.*?)</script>', html)[1]
    assert json.loads(data) == fig
    assert 'data-bundle="cartesian"' in html and "min-height:450px" in html
    assert '<figcaption class="lstmviz-alt">Line chart: alert(1). x axis: lag' in html  # no tags
    # a trace type beyond the cartesian bundle asks for the full one
    assert 'data-bundle="full"' in prepare.figure_html({"data": [{"type": "sankey"}]}, "x")
    # a lesson's own alt text (myst-nb's cell metadata) wins
    own = cell([out], metadata={"mystnb": {"image": {"alt": "My words"}}})
    nb = prepare.prepare_notebook(notebook(own), "s.py")
    assert ">My words</figcaption>" in nb["cells"][1]["outputs"][0]["data"]["text/html"]


def test_not_answered_lines_become_one_exercise_box_and_other_lines_stay():
    text = UNANSWERED.format("1 (length 100)") + UNANSWERED.format("1 (b)") + "Measured: 9\n"
    out = {"output_type": "stream", "name": "stdout", "text": text}
    nb = prepare.prepare_notebook(notebook(cell([out])), "lessons/solutions/01_x.py")
    box, rest = nb["cells"][1]["outputs"]
    html = box["data"]["text/html"]
    assert "not answered yet" not in html
    assert "<strong>exercise 1 (length 100)</strong> and <strong>exercise 1 (b)</strong>" in html
    assert "lessons/solutions/01_x.py" in html
    assert rest == {"output_type": "stream", "name": "stdout", "text": "Measured: 9\n"}
    # a check that ran with an answer prints its verdict: left as it is
    answered = {"output_type": "stream", "name": "stdout", "text": "Exercise 1: correct.\n"}
    nb = prepare.prepare_notebook(notebook(cell([answered])), "s.py")
    assert nb["cells"][1]["outputs"] == [answered]


def test_a_widget_keeps_its_snapshot_with_alt_text_and_gets_the_recorded_explorer():
    widget = {
        "output_type": "display_data",
        "metadata": {},
        "data": {
            prepare.WIDGET: {"model_id": "abc"},
            "image/png": "iVBORw0",
            "text/plain": "<lstmviz LiveGeneration: layer=1, name='c', unit=455>",
        },
    }
    spec = {"title": "T", "description": "a passage", "bytes": 2_530_000}
    nb = prepare.prepare_notebook(
        notebook(cell([widget]), cell([widget])),
        "s.py",
        recorded={"LiveGeneration": (spec, "../_static/explorers/x.html", "../explorer.html")},
    )
    first, second = nb["cells"][1], nb["cells"][2]
    assert [list(o["data"]) for o in first["outputs"]] == [["image/png"], ["text/html"]]
    assert first["metadata"]["mystnb"]["image"]["alt"] == (
        "Snapshot of the live generation explorer as the lesson ran, showing unit 455 of layer 1: "
        "memory cell c. Static image; the explorer itself runs in Jupyter"
    )
    box = first["outputs"][1]["data"]["text/html"]
    assert 'data-src="../_static/explorers/x.html"' in box and "(2.5 MB)" in box
    assert len(second["outputs"]) == 1  # only the first such widget gets the explorer
    assert "widgets" not in nb["metadata"]  # no widget state: no widget JS on the page


def test_the_marker_line_goes_and_a_download_note_sits_under_the_title():
    marked = cell([], source="# NBVAL_CHECK_OUTPUT\nprint(vocab)")
    nb = prepare.prepare_notebook(notebook(marked), "s.py", download="01_x.ipynb")
    title, note, intro, code = nb["cells"]
    assert title["source"] == "# 01 — Title\n" and intro["source"] == "Intro $x$."
    assert 'href="../notebooks/01_x.ipynb"' in note["source"]
    assert code["source"] == "print(vocab)"
    assert "Colab" not in note["source"]
    colab = "https://colab.research.google.com/github/o/n/blob/main/lessons/01_x.ipynb"
    nb = prepare.prepare_notebook(notebook(marked), "s.py", download="01_x.ipynb", colab=colab)
    assert f'<a href="{colab}">Colab</a>' in nb["cells"][1]["source"]


def test_every_committed_lesson_prepares_and_keeps_each_figure():
    for path in sorted((ROOT / "lessons").glob("[0-9]*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        site = prepare.prepare_notebook(nb, "s.py")
        html = "".join(
            o["data"].get("text/html", "")
            for c in site["cells"]
            for o in c.get("outputs", [])
            if "data" in o
        )
        assert html.count('class="lstmviz-figure"') == len(prepare.figures(nb)), path.name
        assert prepare.PLOTLY not in json.dumps(site) and "not answered yet" not in json.dumps(site)
