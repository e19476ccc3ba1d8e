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
