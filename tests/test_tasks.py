"""The long-range task generates what it promises, and a small network learns a short lag."""

import numpy as np
import pytest
import torch

from lstmviz.core.errors import LstmvizError
from lstmviz.teaching import tasks


def test_first_symbol_batches():
    task = tasks.FirstSymbolTask(lag=7, n_signals=3, n_distractors=5)
    x, y = task.batch(50, torch.Generator().manual_seed(0))
    assert x.shape == (50, 8, 8) and y.shape == (50,) and x.dtype == torch.float32
    assert torch.all(x.sum(-1) == 1)  # one-hot
    ids = x.argmax(-1)
    assert torch.equal(ids[:, 0], y)  # the target is the first symbol
    assert torch.all(y < 3)  # ... a signal
    assert torch.all((ids[:, 1:] >= 3) & (ids[:, 1:] < 8))  # then only distractors
    assert task.chance == pytest.approx(1 / 3)
    # the same generator seed gives the same batch
    x2, y2 = task.batch(50, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2) and torch.equal(y, y2)


def test_bad_task_settings():
    with pytest.raises(LstmvizError, match="lag"):
        tasks.FirstSymbolTask(lag=0)
    with pytest.raises(LstmvizError, match="kind"):
        tasks.SequenceClassifier("gru", 4, 4, 2)
    with pytest.raises(LstmvizError, match="optimizer"):
        tasks.train_on_task("rnn", 2, optimizer="rmsprop")


def test_forget_bias_sets_only_the_forget_rows():
    m = tasks.SequenceClassifier("lstm", 6, 5, 3, forget_bias=4.0)
    b = (m.rnn.bias_ih_l0 + m.rnn.bias_hh_l0).detach()
    assert torch.all(b[5:10] == 4.0)
    assert torch.all(b[:5].abs() < 1) and torch.all(b[10:].abs() < 1)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_short_lag_is_learnt(kind):
    result = tasks.train_on_task(kind, lag=3, steps=300, seed=0)
    assert result.accuracy > 0.95 and result.success
    assert result.steps < 300  # stopped early once solved
    assert len(result.history["loss"]) == len(result.history["grad_norm"]) == result.steps
    assert result.history["loss"][-1] < result.history["loss"][0]


def test_untrained_network_is_at_chance_and_success_vs_lag_shape():
    task = tasks.FirstSymbolTask(lag=5)
    model = tasks.SequenceClassifier("rnn", task.vocab_size, 8, task.n_signals)
    assert abs(tasks.accuracy(model, task, 4000) - task.chance) < 0.1
    lags, acc = tasks.success_vs_lag("lstm", [2, 4], steps=5, stop_when_solved=False)
    assert list(lags) == [2, 4] and acc.shape == (2,) and np.all((acc >= 0) & (acc <= 1))


def test_history_records_gradient_norm_before_clipping():
    result = tasks.train_on_task("rnn", 4, steps=30, clip=1e-3, stop_when_solved=False)
    assert max(result.history["grad_norm"]) > 1e-3  # measured before the clip cut it down


def test_accuracy_by_seed_is_one_run_per_lag_and_seed():
    acc = tasks.accuracy_by_seed("lstm", [2, 3], seeds=(0, 1), steps=5, test_size=50)
    assert acc.shape == (2, 2) and np.all((acc >= 0) & (acc <= 1))
    one = tasks.train_on_task("lstm", 3, seed=1, steps=5, test_size=50).accuracy
    assert acc[1, 1] == one  # seed 1 at lag 3 is exactly that run
    lags, mean = tasks.success_vs_lag("lstm", [2, 3], seeds=(0, 1), steps=5, test_size=50)
    np.testing.assert_allclose(mean, acc.mean(axis=1))


def test_radius_rescales_the_rnn_at_the_start_and_only_the_rnn():
    from lstmviz.teaching.gradients import spectral_radius

    torch.manual_seed(0)
    default = tasks.SequenceClassifier("rnn", 8, 32, 4)
    torch.manual_seed(0)
    scaled = tasks.SequenceClassifier("rnn", 8, 32, 4, radius=1.0)
    assert 0.5 < spectral_radius(default.rnn.weight_hh_l0) < 0.75  # PyTorch's default init
    assert spectral_radius(scaled.rnn.weight_hh_l0) == pytest.approx(1.0, abs=1e-5)
    # the same weights up to one scale factor
    ratio = scaled.rnn.weight_hh_l0 / default.rnn.weight_hh_l0
    assert torch.allclose(ratio, ratio.flatten()[0].expand_as(ratio), rtol=1e-4)
    with pytest.raises(LstmvizError, match="forget_bias"):
        tasks.SequenceClassifier("lstm", 8, 32, 4, radius=1.0)
    result = tasks.train_on_task("rnn", 3, steps=2, radius=2.0, seed=0)
    assert spectral_radius(result.model.rnn.weight_hh_l0) > 1.5  # started at 2, 2 small steps
