"""Character features on hand-made strings, and the two unit finders on planted units."""

import numpy as np
import pytest

from lstmviz.core.errors import LstmvizError
from lstmviz.gates import features as F


def digits(a):
    return "".join(str(int(x)) for x in a)


def test_in_quotes_marks_opening_quote_and_inside_not_closing():
    text = 'a "bc" d "it\'s" e'
    assert digits(F.in_quotes(text)) == "00111000011111000"
    # single quotes as well, each closed only by its own kind
    assert digits(F.in_quotes("x'a\"b'y", quotes="'\"")) == "0111100"


def test_bracket_depth_nests_and_never_goes_negative():
    text = "f(a[b{c}]) ) (x"
    assert digits(F.bracket_depth(text)) == "011223321000011"


def test_position_in_line_counts_characters_since_newline():
    assert digits(F.position_in_line("ab\ncde\n\nf")) == "120123001"


def test_indentation_counts_leading_spaces_and_tabs():
    text = "a\n  b c\n\tx\n"
    assert F.indentation(text).tolist() == [0, 0, 1, 2, 2, 2, 2, 0, 4, 4, 0]


def test_speaker_line_finds_names_not_headings_or_speech():
    text = "OBERON\nDo you amend it:\nFirst Citizen:\nACT II\nLADY MACBETH\nEnter HORATIO\n"
    got = F.speaker_line(text)
    lines = text.split("\n")[:-1]
    pos = 0
    flags = []
    for line in lines:
        flags.append(bool(got[pos]))
        assert (
            len(set(got[pos : pos + len(line) + 1].tolist())) == 1
        )  # whole line, newline included
        pos += len(line) + 1
    assert flags == [True, False, True, False, True, False]


def test_word_position_space_upper_newline():
    text = "Hi you\nX"
    assert digits(F.word_position(text)) == "12012301"
    assert digits(F.is_space(text)) == "00100010"
    assert digits(F.is_upper(text)) == "10000001"
    assert digits(F.is_newline(text)) == "00000010"


def test_features_returns_every_feature_with_text_length_and_rejects_unknown():
    text = "KING:\n(hello)"
    feats = F.features(text)
    assert set(feats) == set(F.FEATURES)
    assert all(v.shape == (len(text),) for v in feats.values())
    with pytest.raises(LstmvizError, match="unknown feature"):
        F.features(text, ["colour"])


def _noise(T, H, seed=0):
    return np.random.default_rng(seed).normal(size=(T, H))


def test_rank_units_finds_planted_quote_unit_and_its_sign():
    text = 'He said "to be or not" and left. "Yes" said she, ' * 8
    acts = _noise(len(text), 40, seed=1)
    quote = F.in_quotes(text)
    acts[:, 17] = 2.0 * quote - 1.0 + 0.1 * acts[:, 17]  # a quote-tracking unit
    acts[:, 5] = -F.position_in_line(text) / 10 + 0.01 * acts[:, 5]  # an anti-correlated counter
    found = {m.unit: m for m in F.rank_units(acts, text, top=2)}
    assert set(found) == {17, 5}
    assert found[17].feature == "inside quotes" and found[17].score > 0.95
    assert found[5].feature == "position in line" and found[5].score < -0.95
    assert len({m.unit for m in F.rank_units(acts, text, top=10)}) == 10  # each unit once


def test_correlations_match_numpy_corrcoef_and_constant_feature_is_zero():
    text = "ab(c)d\n" * 5
    acts = _noise(len(text), 6, seed=2)
    feats = {"depth": F.bracket_depth(text), "flat": np.zeros(len(text))}
    names, r = F.correlations(acts, feats)
    assert names == ["depth", "flat"]
    for u in range(6):
        assert r[0, u] == pytest.approx(np.corrcoef(feats["depth"], acts[:, u])[0, 1], abs=1e-12)
    assert np.all(r[1] == 0)


def test_match_span_finds_planted_unit_on_inside_off_around():
    T, H = 300, 64
    acts = _noise(T, H, seed=3) * 0.3
    acts[120:140, 42] += 3.0  # on inside the span only
    acts[:, 7] += 3.0  # always on: high inside, but just as high around, so not a match
    found = F.match_span(acts, 120, 140, top=5)
    assert found[0].unit == 42
    assert 7 not in [m.unit for m in found[:3]]
    assert found[0].score > 3 * abs(found[1].score)


def test_match_span_and_rank_units_reject_bad_input():
    acts = _noise(10, 3)
    with pytest.raises(LstmvizError, match="span"):
        F.match_span(acts, 5, 5)
    with pytest.raises(LstmvizError, match="whole text"):
        F.match_span(acts, 0, 10)
    with pytest.raises(LstmvizError, match="time steps but the text has"):
        F.rank_units(acts, "short")


def test_best_cell_finds_a_planted_unit_in_any_layer():
    text = 'say "hi there" and "bye" now ' * 20

    class FakeTrace:  # stands in for a recorded Trace: (1, T, H) per (name, layer)
        num_layers = 2
        names = ("c",)
        batch_first = True

        def __init__(self, per_layer):
            self.per_layer = per_layer

        def __getitem__(self, key):
            return self.per_layer[key[1]]

    rng = np.random.default_rng(0)
    quotes = F.in_quotes(text)
    layers = [rng.normal(size=(1, len(text), 6)).astype(np.float32) for _ in range(2)]
    layers[1][0, :, 4] = -3 * quotes + 0.1 * rng.normal(
        size=len(text)
    )  # layer 1, unit 4, anti-correlated
    layer, unit, r = F.best_cell(FakeTrace(layers), text, "inside quotes")
    assert (layer, unit) == (1, 4) and r < -0.9
    # an array feature works too
    assert F.best_cell(FakeTrace(layers), text, quotes)[:2] == (1, 4)


def test_in_triple_quotes_marks_docstrings_not_one_line_strings():
    text = 'def f():\n    """Doc "x" it\'s."""\n    return "ok\\n"\n'
    got = F.in_triple_quotes(text)
    a, b = text.index('"""'), text.rindex('"""') + 3
    np.testing.assert_array_equal(np.flatnonzero(got), np.arange(a, b))
    assert F.in_triple_quotes("'''a'''b")[:8].tolist() == [1] * 7 + [0]


def test_null_max_r_is_chance_level_of_the_best_unit():
    rng = np.random.default_rng(0)
    T = 2000
    feature = (np.arange(T) // 50 % 2).astype(float)  # long runs, like a line feature
    noise = rng.normal(size=(T, 30)).cumsum(axis=0)  # slow random drifts: chance correlations
    planted = feature + 0.5 * rng.normal(size=T)
    null = F.null_max_r([noise, planted[:, None]], feature, n=100, seed=1)
    assert null.shape == (100,) and np.all((null > 0) & (null <= 1))
    _, r = F.correlations(planted[:, None], {"f": feature})
    assert abs(r[0, 0]) > np.quantile(null, 0.99)  # the planted unit beats chance
    _, r_noise = F.correlations(noise, {"f": feature})
    # the best drifting unit's |r| is within the null (it *is* a chance alignment)
    assert np.abs(r_noise).max() < np.quantile(null, 0.999) + 0.05
    # the null is the max over units: more units, higher chance level
    small = F.null_max_r(noise[:, :3], feature, n=100, seed=1)
    assert np.median(small) < np.median(F.null_max_r(noise, feature, n=100, seed=1))
    with pytest.raises(LstmvizError, match="one per step"):
        F.null_max_r(noise, feature[:-1])
