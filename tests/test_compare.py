"""lstmviz.teaching.compare: the small side-by-side experiments of lesson 06."""

import math

import numpy as np
import pytest
import torch
from torch import nn

import lstmviz
from lstmviz.core.errors import LstmvizError
from lstmviz.core.model import set_forget_bias
from lstmviz.teaching import compare
from lstmviz.viz import curves

TEXT = ("the cat sat on the mat. " * 40 + "a dog ran in the fog! " * 40) * 3


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("kind,cls", [("rnn", nn.RNN), ("gru", nn.GRU), ("lstm", nn.LSTM)])
def test_charnet_kinds_shapes_and_state(kind, cls):
    net = compare.CharNet(kind, vocab_size=11, hidden_size=8, num_layers=2, embedding_dim=5)
    assert isinstance(net.rnn, cls) and net.rnn.num_layers == 2
    ids = torch.randint(0, 11, (3, 7))
    logits, state = net(ids)
    assert logits.shape == (3, 7, 11)
    # carrying the state over a split gives the same logits as one call (the model is stateful)
    a, s = net(ids[:, :4])
    b, _ = net(ids[:, 4:], s)
    torch.testing.assert_close(torch.cat([a, b], 1), logits)


def test_charnet_rejects_unknown_kind():
    with pytest.raises(LstmvizError, match="kind must be one of"):
        compare.CharNet("transformer", 5)


def test_set_forget_bias_sets_only_the_forget_rows_in_every_layer():
    lstm = nn.LSTM(4, 6, num_layers=2)
    before = {n: p.detach().clone() for n, p in lstm.named_parameters()}
    set_forget_bias(lstm, 1.5)
    H = 6
    for layer in range(2):
        total = getattr(lstm, f"bias_ih_l{layer}") + getattr(lstm, f"bias_hh_l{layer}")
        torch.testing.assert_close(total[H : 2 * H], torch.full((H,), 1.5))
        for name in (f"bias_ih_l{layer}", f"bias_hh_l{layer}"):
            new, old = getattr(lstm, name), before[name]
            torch.testing.assert_close(new[:H], old[:H])  # i, g, o untouched
            torch.testing.assert_close(new[2 * H :], old[2 * H :])
    # with zero input and state, the forget gate at step 1 is exactly sigma(1.5)
    with lstmviz.GateRecorder(lstm) as rec:
        lstm(torch.zeros(1, 1, 4))
    f = rec.trace["f", 0]
    torch.testing.assert_close(f, torch.full_like(f, 1 / (1 + math.exp(-1.5))))


def test_set_forget_bias_refusals():
    with pytest.raises(LstmvizError, match="needs an nn.LSTM"):
        set_forget_bias(nn.GRU(3, 4), 1.0)
    with pytest.raises(LstmvizError, match="no biases"):
        set_forget_bias(nn.LSTM(3, 4, bias=False), 1.0)


def test_run_learns_is_deterministic_and_reports_consistently():
    r1 = compare.run(
        "lstm",
        TEXT,
        hidden_size=16,
        embedding_dim=8,
        steps=40,
        batch_size=4,
        seq_len=16,
        lr=1e-2,
        eval_every=20,
        val_chars=500,
    )
    r2 = compare.run(
        "lstm",
        TEXT,
        hidden_size=16,
        embedding_dim=8,
        steps=40,
        batch_size=4,
        seq_len=16,
        lr=1e-2,
        eval_every=20,
        val_chars=500,
    )
    assert r1.train_loss == r2.train_loss and r1.val_loss == r2.val_loss  # same seed, same batches
    assert len(r1.train_loss) == 40 and r1.val_steps == [20, 40]
    V = len(lstmviz.Vocab.from_text(TEXT))
    assert r1.train_loss[0] == pytest.approx(math.log(V), abs=0.3)  # starts near uniform guessing
    assert r1.final_val < math.log(V) - 0.5  # and learns this very repetitive text
    assert r1.bits_per_char == pytest.approx(r1.final_val / math.log(2))
    assert r1.params == sum(p.numel() for p in r1.model.parameters())
    # the reported validation loss is the loss of the returned model on the validation text
    val = lstmviz.split(TEXT)[1][:501]
    vocab = lstmviz.Vocab.from_text(TEXT)
    x, y = lstmviz.core.training.streams(vocab.encode(val), max(1, min(4, 500 // 16)))
    assert lstmviz.core.training.validation_loss(r1.model, x, y, 16) == pytest.approx(
        r1.final_val, rel=1e-6
    )


def test_forget_bias_changes_the_lstm_run_only_through_the_bias():
    common = dict(hidden_size=8, embedding_dim=4, steps=3, batch_size=2, seq_len=8, val_chars=100)
    a = compare.run("lstm", TEXT, forget_bias=0.0, **common)
    b = compare.run("lstm", TEXT, forget_bias=1.0, **common)
    assert a.train_loss != b.train_loss
    assert a.label.endswith("forget bias 0") and b.label.endswith("forget bias 1")
    with pytest.raises(LstmvizError, match="only an LSTM has a forget gate"):
        compare.run("gru", TEXT, forget_bias=1.0, **common)


def test_compare_table_and_figure():
    runs = compare.compare(
        TEXT,
        ["rnn", "gru", "lstm"],
        hidden_size=8,
        embedding_dim=4,
        steps=5,
        batch_size=2,
        seq_len=8,
        val_chars=200,
    )
    assert [r.kind for r in runs] == ["rnn", "gru", "lstm"]
    # same size: recurrent parameters in the ratio 1 : 3 : 4
    rec = [sum(p.numel() for p in r.model.rnn.parameters()) for r in runs]
    assert rec[1] == 3 * rec[0] and rec[2] == 4 * rec[0]
    table = compare.table(runs)
    assert "bits/char" in table and len(table.splitlines()) == 2 + 3
    assert f"{runs[2].bits_per_char:.3f}" in table.splitlines()[-1]
    fig = curves.loss_figure(runs, window=2)
    assert len(fig.data) == 6  # a visible line and a bits/char twin per run
    np.testing.assert_allclose(fig.data[0].y, curves.smooth(runs[0].train_loss, 2), rtol=1e-3)
    labelled = compare.compare(
        TEXT,
        {"mine": dict(kind="lstm", forget_bias=2.0)},
        hidden_size=8,
        embedding_dim=4,
        steps=2,
        batch_size=2,
        seq_len=8,
        val_chars=100,
    )
    assert labelled[0].label == "mine" and labelled[0].settings["forget_bias"] == 2.0


def test_run_refuses_a_too_short_text():
    with pytest.raises(LstmvizError, match="too short"):
        compare.run("rnn", "abcdefghij" * 3, batch_size=8, seq_len=64, steps=1)


def test_load_net_round_trip_and_clear_errors(tmp_path):
    import json

    torch.manual_seed(0)
    vocab = lstmviz.Vocab.from_text(TEXT)
    net = compare.CharNet("gru", len(vocab), 10, 2, 6).eval()
    path = tmp_path / "span_gru.pt"
    weights = {k: v.half() for k, v in net.state_dict().items()}
    torch.save({"kind": "gru", "vocab": vocab.chars, "model": weights}, path)
    loaded, v2, info = compare.load_net(path)
    assert info == {"kind": "gru"} and v2 == vocab and not loaded.training
    assert isinstance(loaded.rnn, nn.GRU) and loaded.rnn.num_layers == 2
    assert (loaded.rnn.hidden_size, loaded.embedding.embedding_dim) == (10, 6)
    ids = vocab.encode("the cat sat")[None]
    with torch.no_grad():
        want = compare.CharNet("gru", len(vocab), 10, 2, 6)
        want.load_state_dict({k: v.float() for k, v in weights.items()})
        assert torch.equal(loaded(ids)[0], want.eval()(ids)[0])  # the float16 weights, exactly
    path.with_suffix(".json").write_text(json.dumps({"kind": "gru", "params": 123}))
    assert compare.load_net(path)[2]["params"] == 123

    with pytest.raises(LstmvizError, match="no saved model"):
        compare.load_net(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(path.read_bytes()[:100])
    with pytest.raises(LstmvizError, match="damaged.*torch.load failed"):
        compare.load_net(bad)
    torch.save({"kind": "gru", "vocab": vocab.chars[:-1], "model": weights}, bad)
    with pytest.raises(LstmvizError, match="damaged"):
        compare.load_net(bad)
    torch.save({"kind": "transformer", "vocab": vocab.chars, "model": weights}, bad)
    with pytest.raises(LstmvizError, match="kind 'transformer'"):
        compare.load_net(bad)
    nan = dict(weights, **{"head.bias": torch.full_like(weights["head.bias"], float("nan"))})
    torch.save({"kind": "gru", "vocab": vocab.chars, "model": nan}, bad)
    with pytest.raises(LstmvizError, match="NaN"):
        compare.load_net(bad)
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(LstmvizError, match="not valid JSON"):
        compare.load_net(path)


def test_evaluate_net_scores_the_whole_validation_part(tmp_path):
    """The loss over every validation character in batch_size streams, as one pass per stream."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    torch.manual_seed(0)
    vocab = lstmviz.Vocab.from_text(TEXT)
    net = compare.CharNet("lstm", len(vocab), 12, 2, 5).eval()
    result = compare.evaluate_net(net, vocab, {"corpus": str(corpus), "batch_size": 4,
                                               "seq_len": 16, "steps": 3})  # fmt: skip
    val = lstmviz.split(TEXT)[1]
    ids = vocab.encode(val)
    n = (len(ids) - 1) // 4
    x, y = ids[: 4 * n].view(4, n), ids[1 : 4 * n + 1].view(4, n)
    with torch.no_grad():  # the whole stream at once: the state carried by the model itself
        want = torch.nn.functional.cross_entropy(net(x)[0].flatten(0, 1), y.flatten()).item()
    assert result.loss == pytest.approx(want, rel=1e-5)
    assert (result.chars, result.val_chars, result.corpus) == (4 * n, len(val), str(corpus))
    first = compare.evaluate_net(net, vocab, {"corpus": str(corpus), "batch_size": 1,
                                              "seq_len": 16})  # fmt: skip
    assert first.chars == len(val) - 1 and first.loss != pytest.approx(result.loss, rel=1e-6)
    with pytest.raises(LstmvizError, match="lack corpus, seq_len"):
        compare.evaluate_net(net, vocab, {"batch_size": 4})
