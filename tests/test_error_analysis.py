"""lstmviz.teaching.error_analysis: lesson 07's per-character comparison with n-gram models."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lstmviz.core.errors import LstmvizError
from lstmviz.core.ngram import NGram
from lstmviz.core.vocab import Vocab
from lstmviz.teaching import compare
from lstmviz.teaching import error_analysis as ea


def _closers(text):
    """{index of a closer: index of its opener} from match_python."""
    out = ea.match_python(text)
    return {int(t): int(o) for t, o in enumerate(out) if o >= 0}


def test_match_python_pairs_brackets_and_quotes():
    text = "f(a[1], {'k': (2)})\n"
    #       0123456789...
    assert _closers(text) == {
        5: 3,  # ]  closes [ at 3
        11: 9,  # '  closes ' at 9
        16: 14,  # ) closes ( at 14
        17: 8,  # } closes { at 8
        18: 1,  # ) closes ( at 1
    }


def test_match_python_skips_strings_and_comments_and_escapes():
    text = 'x = ")(" # (\ny = "a\\"b"\ns = """(\n"""\n'
    got = _closers(text)
    # the brackets inside the string and the comment do not count; the escaped quote does not
    # close; the docstring closes at the first of its three closing quotes
    assert got == {7: 4, 22: 17, 33: 28}
    assert text[22] == text[17] == '"' and text[28:31] == text[33:36] == '"""'


def test_match_python_leaves_unmatched_and_wrong_closers():
    # a text starting mid-expression: ")" with nothing open; "]" closing a "(": both -1
    assert _closers("a) (b] c)") == {8: 3}
    # an unterminated one-line string gives up at the line's end, and brackets count again
    assert _closers("'abc\n(x)") == {7: 5}
    assert ea.match_python("").shape == (0,)


def test_closer_groups_bin_by_distance():
    text = "(ab)" + " " * 3 + "(" + "x" * 9 + ")" + "'" + "y" * 30 + "'"
    groups = ea.closer_groups(text)
    where = {k: np.flatnonzero(v).tolist() for k, v in groups.items() if v.any()}
    # ")" at 3 is 3 back; ")" at 17 is 10 back (opener at 7); the quote at 49 is 31 back
    assert where == {"bracket, 1-4 back": [3], "bracket, 5-10 back": [17],
                     "quote, 21-40 back": [49]}  # fmt: skip


PLAY = "ACT I\n\nMACBETH\nSo foul\nand fair.\n\nBANQUO\n[Aside] Hail!\n"


def test_speaker_lines_follow_the_play_layout():
    names = ea.speaker_lines(PLAY)
    marked = "".join(ch for ch, m in zip(PLAY, names, strict=True) if m)
    # "ACT I" is followed by a blank line, so it is not a name line
    assert marked == "MACBETH\nBANQUO\n"


def test_name_lines_give_each_name_and_its_place():
    lines = ea.name_lines(PLAY)
    assert [n for _, _, n in lines] == ["MACBETH", "BANQUO"]
    assert all(PLAY[s:e] == n + "\n" for s, e, n in lines)
    assert ea.name_lines("\nHAMLET") == []  # a name line needs a speech after it


def test_name_groups_split_letters_and_newline_by_known_and_recent_names():
    text = "\n\nBANQUO\nHail.\n\nLENNOX\nWhat?\n\nBANQUO\nHa!\n\n" + "." * 30 + "\n\nBANQUO\nHo.\n"
    g = ea.name_groups(text, known={"LENNOX"}, near=30)
    marked = {k: "".join(text[i] for i in np.flatnonzero(m)) for k, m in g.items()}
    assert marked["1st letter"] == "BLBB"
    assert marked["known name: rest"] == "ENNOX" and marked["known name: newline"] == "\n"
    assert marked["new name: rest"] == "ANQUO" * 3 and marked["new name: newline"] == "\n" * 3
    # the second BANQUO began 28 characters after the first (< 30); the third, 44 after the second
    second = text.index("BANQUO", 10)
    recent = np.flatnonzero(g["new, in last 30: rest"]).tolist()
    assert recent == list(range(second + 1, second + 6))
    total = sum(g[k].astype(int) for k in g if "in last" not in k)
    assert (total == ea.speaker_lines(text)).all()  # 1st letter + rest + newline: every name char
    with pytest.raises(LstmvizError, match="near must be"):
        ea.name_groups(text, set(), near=0)


def test_play_groups_partition_the_speech_characters():
    g = ea.play_groups(PLAY)
    idx = {k: np.flatnonzero(v).tolist() for k, v in g.items()}
    s = PLAY.index("So foul")
    assert idx["speech, 1st character"][:2] == [0, s]  # "A" of ACT, "S" of So
    assert PLAY.index("\n\nBANQUO") + 1 in idx["end of speech"]
    assert s + len("So foul") in idx["speech, end of line"]
    assert idx["inside [ ]"] == list(range(PLAY.index("["), PLAY.index("]") + 1))
    parts = [k for k in g if k != "inside [ ]"]
    total = sum(g[k].astype(int) for k in parts)
    assert total.max() == 1 and total.sum() == len(PLAY)  # each character in exactly one group


def test_compare_groups_means_gain_and_se():
    a = np.array([np.nan, 1.0, 2.0, 3.0, 0.5])
    b = np.array([5.0, 2.0, 2.0, 6.0, np.nan])
    mask = np.array([True, True, True, True, True])
    (row,) = ea.compare_groups(a, b, {"all": mask})
    # only characters 1-3 are scored by both; gains 1, 0, 3
    assert row.n == 3 and row.loss_a == pytest.approx(2.0) and row.loss_b == pytest.approx(10 / 3)
    assert row.gain == pytest.approx(4 / 3)
    assert row.se == pytest.approx(np.std([1, 0, 3], ddof=1) / math.sqrt(3))
    assert "all" in ea.table([row])
    with pytest.raises(LstmvizError, match="differ in length"):
        ea.compare_groups(a, b[:3], {"all": mask})


def test_model_losses_equal_one_pass_per_window():
    torch.manual_seed(0)
    text = "the cat sat on the mat; a dog ran in the fog. " * 6
    vocab = Vocab.from_text(text)
    net = compare.CharNet("lstm", len(vocab), 12, 2, 5).eval()
    warmup, window = 7, 50
    got = ea.model_losses(net, vocab, text, warmup=warmup, window=window)
    assert np.isnan(got[:warmup]).all() and np.isfinite(got[warmup:]).all()
    ids = vocab.encode(text)
    for s in (warmup, warmup + window, warmup + 5 * window):  # the last window is shorter
        n = min(window, len(text) - s)
        with torch.no_grad():
            logits, _ = net(ids[None, s - warmup : s + n - 1])
        want = F.cross_entropy(logits[0, warmup - 1 :], ids[s : s + n], reduction="none")
        np.testing.assert_allclose(got[s : s + n], want.double().numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(LstmvizError, match="nothing to score"):
        ea.model_losses(net, vocab, text[:5], warmup=warmup)


def test_ngram_losses_are_the_counted_models():
    train, text = "abcabcabd" * 5, "abcabd"
    vocab = Vocab.from_text(train)
    got = ea.ngram_losses(train, text, vocab, orders=(1, 3))
    assert set(got) == {1, 3}
    np.testing.assert_allclose(got[3], NGram.fit(train, 3, vocab).per_char_loss(text).numpy())
    # unigram with add-1: P(a) = (15 + 1) / (45 + 4)
    assert got[1][0] == pytest.approx(-math.log(16 / 49))
