"""export_html: the recorded explorer holds the trace's values (to its 8-bit steps), and says no.

The values are read back twice: from the page's data block in Python (``read_values``), and from
what the page's own script shows in headless Chromium (the table of one unit at one character,
after picking that unit in the grid and that character in the text).
"""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
import torch

import lstmviz
from lstmviz.core.errors import LstmvizError
from lstmviz.core.model import CharLSTM
from lstmviz.core.names import NAMES, RANGES
from lstmviz.core.vocab import Vocab
from lstmviz.gates import analysis
from lstmviz.viz import export_html
from lstmviz.viz.export import quantize, read_values

TEXT = 'OBERON\nDo you "amend" it then; it lies in you:\n</script><b>Why</b> {{DATA}}\n'


@pytest.fixture
def recorded():
    """A trace of an untrained 2 x 16 model over TEXT, whose layer-1 cells reach a few units."""
    torch.manual_seed(0)
    vocab = Vocab.from_text(TEXT)
    model = CharLSTM(len(vocab), hidden_size=16, num_layers=2, dropout=0.0, embedding_dim=8)
    with torch.no_grad():  # update gates open and candidates large: the cells add up
        model.lstm.bias_ih_l1[0:16] += 3.0
        model.lstm.weight_ih_l1[32:48] *= 8.0
        model.lstm.bias_ih_l1[16:32] += 3.0
    return lstmviz.record_text(model.eval(), vocab, TEXT), TEXT


def half_step(name: str, trace, layer: int) -> np.ndarray | float:
    lo, hi = RANGES[name]
    if name == "c":
        # each unit on ±its max|c| rounded up to 3 significant digits (at most 1% more)
        return np.abs(analysis.activations(trace, "c", layer)).max(axis=0) * 1.01 / 255 + 1e-7
    return (hi - lo) / 255 / 2 + 1e-7


def test_every_value_in_the_page_is_the_traces_within_half_a_step(recorded):
    trace, text = recorded
    page = export_html(trace, text)
    got = read_values(page)
    assert got["text"] == text
    for layer in range(trace.num_layers):
        for name in NAMES:
            want = analysis.activations(trace, name, layer)
            assert got[name, layer].shape == want.shape == (len(text), 16)
            err = np.abs(got[name, layer] - want)
            assert (err <= half_step(name, trace, layer)).all(), (name, layer, err.max())
            # the values move (a constant column would pass the check above trivially)
            assert want.std() > 0.01
    # the cell of layer 1 is stored on each unit's own range: its largest |c| comes back whole
    c = analysis.activations(trace, "c", 1)
    peak = np.abs(c).max(axis=0)
    np.testing.assert_allclose(np.abs(got["c", 1]).max(axis=0), peak, rtol=0.01)
    assert peak.max() > 1.5


def test_the_page_starts_where_asked_and_by_default_on_the_most_variable_unit(recorded):
    trace, text = recorded
    start = read_values(export_html(trace, text))["start"]
    c = analysis.activations(trace, "c", 1)
    assert start == {"layer": 1, "name": "c", "unit": int(np.argmax(c.std(axis=0))), "position": 0}
    page = export_html(trace, text, layer=0, name="forget", unit=-1, position=5, title="Mine <3")
    assert read_values(page)["start"] == {"layer": 0, "name": "f", "unit": 15, "position": 5}
    assert "<title>Mine &lt;3</title>" in page


def test_a_text_holding_script_tags_and_placeholders_cannot_break_the_page(recorded):
    trace, text = recorded
    assert "</script>" in text and "{{DATA}}" in text
    page = export_html(trace, text)
    # the page's own two scripts (data and code) and nothing else end a script element
    assert page.count("</script>") == 2
    data = re.search(r'id="lstmviz-data">(.*?)</script>', page, re.S)[1]
    assert json.loads(data)["text"] == text
    # every placeholder filled once: the only one left is the text's own, inside the data
    assert not re.search(r"\{\{(TITLE|STYLE|SCRIPT)\}\}", page) and page.count("{{DATA}}") == 1


def test_layers_and_names_can_be_restricted_and_the_page_shrinks(recorded):
    trace, text = recorded
    full = export_html(trace, text)
    small = export_html(trace, text, layers=[1], names=["forget", "c"], name="f")
    got = read_values(small)
    assert set(got) - {"text", "start"} == {("f", 1), ("c", 1)}
    np.testing.assert_allclose(
        got["f", 1], analysis.activations(trace, "f", 1), atol=half_step("f", trace, 1)
    )
    assert len(small) < len(full) - 0.8 * (10 / 12) * 4 / 3 * 2 * 6 * 16 * len(text)


def test_it_writes_the_page_and_a_batch_member(tmp_path, tiny_model):
    model, vocab = tiny_model
    ids = torch.stack([vocab.encode("to be or"), vocab.encode("not to b")])
    with torch.no_grad():
        trace = lstmviz.record(model.lstm, model.embedding(ids))  # (2, 8, 16) batch-first
    out = tmp_path / "sub" / "explorer.html"
    page = export_html(trace, "not to b", out, batch=1)
    assert out.read_text(encoding="utf-8") == page
    np.testing.assert_allclose(
        read_values(page)["g", 0], trace["g", 0][1].numpy(), atol=half_step("g", trace, 0)
    )
    with pytest.raises(LstmvizError, match="is a folder; lstmviz writes only regular files"):
        export_html(trace, "not to b", tmp_path, batch=1)


def test_a_generation_recorded_by_gate_recorder_exports(tiny_model):
    model, vocab = tiny_model
    with lstmviz.GateRecorder(model) as rec:
        written = lstmviz.generate(model, vocab, "OBERON\n", 20, seed=0)
    text = ("OBERON\n" + written)[: rec.trace.steps]
    got = read_values(export_html(rec.trace, text, name="h"))
    assert got["h", 1].shape == (len(text), 16)
    np.testing.assert_allclose(
        got["h", 1], analysis.activations(rec.trace, "h", 1), atol=half_step("h", rec.trace, 1)
    )


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(trace=[[0.5]]), "needs a Trace"),
        (dict(text=b"bytes"), "text must be the string"),
        (dict(text="short"), "time steps but the text has 5 characters"),
        (dict(unit=16), "unit 16 is out of range 0..15"),
        (dict(unit=2.5), "unit must be an integer"),
        (dict(layer=2), "layer 2 is out of range 0..1"),
        (dict(name="memory"), "unknown name 'memory'"),
        (dict(names=["f"], name="c"), "name 'c' is not among the kept names f"),
        (dict(layers=[0], layer=1), "layer 1 is not among the kept layers"),
        (dict(layers=[]), "layers must be distinct"),
        (dict(position=999), "position must be a character index"),
        (dict(batch=1), "batch 1 is out of range"),
        (dict(max_bytes=10_000), "max_bytes is 0.0 MB: pass fewer characters"),
    ],
)
def test_bad_input_is_one_clear_error(recorded, change, message):
    trace, text = recorded
    args = dict(trace=trace, text=text)
    args.update(change)
    with pytest.raises(LstmvizError, match=re.escape(message)):
        export_html(args.pop("trace"), args.pop("text"), **args)


def test_non_finite_values_are_refused(recorded):
    trace, text = recorded
    trace["i", 0][0, 3, 2] = float("nan")  # a view: the trace's own storage
    with pytest.raises(LstmvizError, match="'i' of layer 0 holds NaN or infinite values"):
        export_html(trace, text)


def test_quantize_keeps_the_ends_of_the_range_exact():
    q = quantize(np.array([0.0, 0.5, 1.0, 1.3, -0.2]), 0.0, 1.0)
    assert q.tolist() == [0, 128, 255, 255, 0]


# ----------------------------------------------------------------------------- in a browser
CHROMIUM = os.environ.get("LSTMVIZ_CHROMIUM", "/usr/bin/chromium")


@pytest.mark.browser
def test_the_pages_script_shows_the_traces_values_when_a_unit_and_character_are_picked(
    recorded, tmp_path
):
    """Headless Chromium opens the page from a file; the grid picks a unit, the text a character."""
    from test_browser import ARGS, _need_browser  # the browser test's Chromium and its checks

    _need_browser()
    from playwright.sync_api import sync_playwright

    trace, text = recorded
    path = tmp_path / "explorer.html"
    export_html(trace, text, path, unit=0)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=False, args=ARGS
        )
        try:
            pg = context.pages[0] if context.pages else context.new_page()
            errors = []
            pg.on("pageerror", lambda e: errors.append(str(e)))
            pg.on("console", lambda m: m.type == "error" and errors.append(m.text))
            pg.goto(path.as_uri())
            pg.wait_for_selector("#lx[data-ready='1']")
            line = pg.locator("polyline.lx-series").get_attribute("points")
            pg.locator(".lx-grid rect[data-unit='7']").click()
            pg.locator(".lx-text span[data-t='12']").click()
            assert pg.locator("#lx").get_attribute("data-unit") == "7"
            assert pg.locator("#lx").get_attribute("data-position") == "12"
            assert pg.locator("polyline.lx-series").get_attribute("points") != line
            rows = pg.locator(".lx-table tr").all_inner_texts()
            shown = {r.split("\t")[0]: float(r.split("\t")[1].replace("−", "-")) for r in rows}
            for name, row in zip(NAMES, rows, strict=True):
                label, number = row.split("\t")[:2]
                want = float(analysis.activations(trace, name, 1)[12, 7])
                # shown to 2 decimals (gates, ĉ, a), fewer for a wide cell: within that rounding
                # plus the stored step
                rounding = 0.5 * 10.0 ** -len(number.partition(".")[2])
                stored = np.max(half_step(name, trace, 1)) * (2 if name in "gh" else 1)
                assert abs(shown[label] - want) <= rounding + stored, (name, shown, want)
            assert not errors, errors
        finally:
            context.close()
