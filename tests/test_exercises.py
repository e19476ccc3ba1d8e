"""The exercise checker, and every worked solution in lessons/solutions/ against its lesson's check."""

from __future__ import annotations

import torch

from lstmviz.teaching import exercises as E


def test_check_says_unanswered_correct_or_wrong(capsys):
    assert E.check("t.1", ..., 1.0) == E.UNANSWERED
    assert E.check("t.1", None, 1.0) == E.UNANSWERED
    assert "not answered yet" in capsys.readouterr().out
    assert E.check("t.1", 1.0005, 1.0) == E.CORRECT
    assert E.check("t.1", 1.1, 1.0, hint="look at lag 60") == E.WRONG
    assert "Hint: look at lag 60" in capsys.readouterr().out


def test_check_compares_arrays_and_predicates():
    assert E.check("t.2", torch.ones(3), [1.0, 1.0, 1.0]) == E.CORRECT
    assert E.check("t.2", torch.ones(2), [1.0, 1.0, 1.0]) == E.WRONG  # shape matters
    assert E.check("t.2", "ROMEO", lambda a: a.isupper()) == E.CORRECT
    assert E.check("t.2", "romeo", lambda a: a.isupper()) == E.WRONG
    # an answer of the wrong kind is feedback, not an exception
    assert E.check("t.2", object(), 3.0) == E.WRONG
    assert E.check("t.2", 3, lambda a: a.missing) == E.WRONG


def test_mean_and_standard_error():
    from lstmviz.teaching import stats

    m, se = stats.mean_se([1.0, 2.0, 3.0, 4.0])
    assert m == 2.5
    assert abs(se - (1.6666666666666667 / 4) ** 0.5) < 1e-12  # sample variance 5/3, n = 4
    assert stats.fmt([1.0, 2.0, 3.0, 4.0], 2) == "2.50 ± 0.65 (n=4)"
    assert stats.clearly_less([1.0, 1.1, 0.9], [2.0, 2.1, 1.9])
    assert not stats.clearly_less([1.0, 1.5, 0.5], [1.2, 1.7, 0.7])


# ----------------------------------------------------------------------------- lessons 05 and 06
def _solutions(lesson: str):
    """lessons/solutions/<lesson>.py as a module (its name starts with a digit: no plain import)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "lessons" / "solutions" / f"{lesson}.py"
    spec = importlib.util.spec_from_file_location(f"solutions_{lesson}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _PlantedTrace:
    """A stand-in for a recorded Trace: (1, T, H) arrays per (name, layer), batch first."""

    names = {"c": "memory cell"}
    batch_first = True

    def __init__(self, layers):
        self.layers, self.num_layers = layers, len(layers)

    def __getitem__(self, key):
        return self.layers[key[1]][None]


def test_lesson_05_solutions_pass_the_lessons_checks():
    import numpy as np

    from lstmviz.gates import analysis, features

    S = _solutions("05_inside_the_gates")
    o0 = np.random.default_rng(0).uniform(size=(200, 16))
    assert E.check("05.1", S.exercise_1(o0), analysis.saturation_fractions(o0)[1]) == E.CORRECT
    assert E.check("05.1", o0.mean(axis=0), analysis.saturation_fractions(o0)[1]) == E.WRONG
    expected = analysis.half_life(np.full(10, 0.95))
    assert E.check("05.2", S.exercise_2(), expected) == E.CORRECT and 13 < expected < 14

    def passage(seed):
        rng = np.random.default_rng(seed)
        text = "".join(rng.choice(list("ab \n"), size=400, p=[0.4, 0.4, 0.1, 0.1]))
        layers = [rng.normal(size=(400, 5)), rng.normal(size=(400, 5))]
        layers[1][:, 2] += 3 * features.is_newline(text)  # the planted end-of-line cell
        return _PlantedTrace(layers), text

    (tr_a, text_a), (tr_b, text_b) = passage(1), passage(2)
    layer, unit, r_b = S.exercise_3(tr_a, text_a, tr_b, text_b)
    assert (layer, unit) == (1, 2) and r_b > 0.5
    # the lesson's check cell, on these passages
    _l, _u, _ = features.best_cell(tr_a, text_a, "end of line")
    _, _r = features.correlations(analysis.activations(tr_b, "c", _l)[:, [_u]],
                                  {"eol": features.is_newline(text_b)})
    expected = (_l, _u, float(_r[0, 0]))
    assert E.check("05.3", (layer, unit, r_b), expected, atol=0.01) == E.CORRECT
    assert E.check("05.3", (layer, unit + 1, r_b), expected, atol=0.01) == E.WRONG


def test_lesson_06_solutions_pass_the_lessons_checks(tiny_model):
    import math

    import numpy as np

    import lstmviz
    from lstmviz.gates import analysis, features
    from lstmviz.teaching import compare, experiments

    S = _solutions("06_interventions")
    b = S.exercise_1()
    half = lambda b: abs(analysis.half_life([1 / (1 + math.exp(-b))]) - 10) < 1e-3  # noqa: E731
    assert E.check("06.1", b, half) == E.CORRECT and 2.5 < b < 2.7
    assert E.check("06.1", 3.0, half) == E.WRONG

    # the parameter count against real layers of the lesson's models (small sizes: fast)
    actual = {}
    for kind, blocks in (("rnn", 1), ("gru", 3), ("lstm", 4)):
        net = compare.CharNet(kind, 20, 12, 1, 5)
        actual[blocks] = sum(p.numel() for p in net.rnn.parameters())
    counts = lambda f: all(f(k, 5, 12) == n for k, n in actual.items())  # noqa: E731
    assert E.check("06.2", S.exercise_2, counts) == E.CORRECT
    assert E.check("06.2", lambda k, n_x, n_a: k * (n_a * n_x + n_a * n_a), counts) == E.WRONG

    # find-then-intervene on the tiny model: the solution is the lesson's recipe, step by step
    model, vocab = tiny_model
    text = "OBERON\nDo you amend it then; it lies in you:\nWhy should Titania cross her Oberon?\n"
    with torch.no_grad():
        trace = lstmviz.record(model.lstm, model.embedding(vocab.encode(text)[None]))
    layer, unit, ratio = S.exercise_3(model, vocab, trace, text, prime="OBERON\n", length=80, n=6)
    assert (layer, unit) == features.best_cell(trace, text, "position in line")[:2]
    values = analysis.activations(trace, "c", layer)[:, unit]
    r = features.best_cell(trace, text, "position in line")[2]
    late = float(np.quantile(values, 0.01 if r < 0 else 0.99))
    plain = experiments.sample_many(model, vocab, "OBERON\n", 80, 6, seed=0)
    with lstmviz.intervene(model, {("c", layer, unit): late}):
        held = experiments.sample_many(model, vocab, "OBERON\n", 80, 6, seed=0)
    expect = experiments.mean_line_length(held) / experiments.mean_line_length(plain)
    assert ratio == expect
    # the lesson's predicate: the right cell, and lines clearly shorter
    pred = lambda a: tuple(a[:2]) == (layer, unit) and 0 < a[2] < 0.5  # noqa: E731
    assert E.check("06.3", (layer, unit, 0.3), pred) == E.CORRECT
    assert E.check("06.3", (layer, unit, 1.0), pred) == E.WRONG
