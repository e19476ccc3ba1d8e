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
