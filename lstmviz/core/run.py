"""Running a training job: ``train`` -- everything around the loop of ``lstmviz.core.training``.

``train`` checks every setting, takes the run folder (``run_folder.RunFolder``), loads the
corpus, builds the model or restores a checkpoint to resume (``checkpoint.restore``), joins a
torchrun job (``distributed``), then runs ``training.loop``. Between two steps the loop calls
``_Run.after_step``, which logs, validates, samples, saves checkpoints and ``OUT/log.json``, stops
on a diverged loss (nothing non-finite is ever saved) and on Ctrl-C / SIGTERM (``signals``).
Running out of memory becomes one clear error.

    train(config)
      _check_early      every setting checked before any file is touched
      _prepare          the config (``_resolve``: resumed or not), device, precision, text
      _train            data, model, resume state, DDP; then training.loop(..., _Run.after_step)
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from . import checkpoint, corpus, distributed, training
from . import config as settings
from .checkpoint import Resumed, read_raw, read_resumable, restore, save_checkpoint
from .config import GIVEN_TEXT, TrainConfig, choose_preset
from .corpus import public, read_corpus, split
from .device import (
    autocast_for,
    memory_bytes,
    out_of_memory,
    pick_device,
    resolve_precision,
)
from .errors import LstmvizError, first_line
from .files import atomic_write, user_path
from .log import log
from .model import CharLSTM, param_count
from .numbers import bits, perplexity
from .run_folder import BEST, LATEST, LOG, RunFolder, epoch_file, run_files
from .sampling import generate
from .signals import StopOnSignal, TrainingInterrupted
from .vocab import Vocab

#: ``format`` of OUT/log.json.
LOG_FORMAT = "lstmviz-log-1"


@dataclass
class TrainResult:
    """What ``train`` returns: the model (eval mode), its vocab, final losses and the history."""

    model: CharLSTM
    vocab: Vocab
    config: TrainConfig
    step: int
    train_loss: float | None
    val_loss: float | None
    best_val_loss: float | None
    history: list[dict] = field(default_factory=list)
    out: Path | None = None


def train(
    config: TrainConfig | None = None,
    *,
    text: str | None = None,
    resume: bool = False,
    callback: Callable[[dict], None] | None = None,
    progress: bool = True,
    **overrides: Any,
) -> TrainResult:
    """Train a CharLSTM; returns TrainResult (model in eval mode, vocab, losses, history).

    ``config``: a TrainConfig; or leave it out and give ``preset="quick"|"full"`` and/or any
    TrainConfig field as a keyword (``train(preset="quick", steps=300)``). ``text``: train on this
    string instead of loading ``config.corpus``. ``resume=True``: continue from
    ``<out>/checkpoint.pt`` (model, optimizer, step, RNG and carried state), up to ``steps``.

    ``callback(entry)`` is called after every logged step and every validation with a dict:

    =================  ===========================================================================
    ``kind``           ``"train"`` (every ``log_every`` steps), ``"val"`` (every ``eval_every``
                       and at each epoch's end) or ``"sample"`` (see below)
    ``step``           optimizer steps done so far (1-based)
    ``epoch``          passes over the training text so far (step / steps per epoch; 1.0: the
                       end of the first)
    ``train_loss``     mean training loss (nats/char) over the steps since the previous train log
    ``val_loss``       validation loss (nats/char); None in ``"train"`` entries
    ``train_bpc``      train_loss in bits/char;  ``val_bpc``: val_loss in bits/char (or None)
    ``val_perplexity`` e^val_loss (or None)
    ``lr``             learning rate of the last step
    ``chars_per_sec``  training characters per second since the previous train log
    ``elapsed``        seconds since this call started
    ``precision``      what the steps ran in: "fp32", "bf16" or "fp16" (``"auto"`` resolved)
    =================  ===========================================================================

    A ``"sample"`` entry (at each epoch's end, every ``sample_every`` steps and at the end) has
    ``step``, ``epoch``, ``elapsed``, ``prime``, ``top_k``, ``seed`` and ``text``: ``sample_len``
    characters generated from ``sample_prime`` with seed ``seed``, the same for every sample.

    With ``out``, ``OUT/log.json`` holds the settings and this history as plain JSON (rewritten at
    every validation, sample and save), and ``OUT/epochN.pt`` the checkpoints at the end of the
    first ``keep_epochs`` epochs. A resumed run continues the history stored in its checkpoint.

    Seeds torch's global RNG with ``seed`` (initial weights, dropout), so a run is reproducible.
    The same dicts are collected in ``result.history``. A NaN or infinite loss, gradient, validation
    loss or weight stops training with an LstmvizError and leaves the last good checkpoint in place:
    nothing non-finite is ever saved.

    Every setting is checked first (``TrainConfig.validate``). With ``out``, the run folder is
    locked for the whole run (a second run into it is refused) and checked writable before any
    training. SIGINT (Ctrl-C) or SIGTERM stops after the current step, saves ``checkpoint.pt`` and
    raises ``TrainingInterrupted`` saying how to resume.

    Started by ``torchrun`` (RANK, WORLD_SIZE, LOCAL_RANK set), it trains data-parallel with
    DistributedDataParallel, each process on its share of the streams; rank 0 alone holds the run
    folder, validates, calls back, shows progress and writes checkpoints, and a signal stops every
    rank after the same step (see ``lstmviz.core.distributed``).
    """
    overrides = dict(overrides)
    config, out = _check_early(config, overrides)
    ranks = distributed.from_env()
    if ranks is None:
        with RunFolder(out) if out is not None else nullcontext(), StopOnSignal(out) as stop:
            cfg, raw, read, precision, device, data = _prepare(
                config, overrides, resume, text, None
            )
            return _out_of_memory_refused(
                lambda: _train(
                    cfg, raw, read, data, device, precision, callback, progress, stop, None
                )
            )
    # Under torchrun: rank 0 alone holds the run folder, reads the files (checkpoint, corpus) and
    # sends what it read to the others.
    asked = overrides.get("device") or (config.device if config is not None else None)
    device = distributed.local_device(ranks, pick_device(asked))
    with distributed.group(ranks, device), ExitStack() as held, StopOnSignal(out) as stop:

        def prepare() -> tuple:
            if out is not None:
                held.enter_context(RunFolder(out))
            return _prepare(config, overrides, resume, text, device, ranks)

        cfg, raw, text, precision, _, data = distributed.on_main(ranks, prepare)
        callback, progress = (callback, progress) if ranks.main else (None, False)
        return _out_of_memory_refused(
            lambda: _train(cfg, raw, text, data, device, precision, callback, progress, stop, ranks)
        )


# ----------------------------------------------------------------------------- before training


def _check_early(
    config: TrainConfig | None, overrides: dict
) -> tuple[TrainConfig | None, Path | None]:
    """Validate what was given before touching any file; returns the config with ``out``
    expanded (``~``), and the run folder (or None). ``overrides["out"]`` is expanded in place."""
    if config is not None and not isinstance(config, TrainConfig):
        raise LstmvizError(f"config must be a TrainConfig, got {type(config).__name__}")
    if overrides.get("preset") is not None:
        choose_preset(overrides["preset"])
    base = config if config is not None else TrainConfig()
    given = base.replace(**{k: v for k, v in overrides.items() if k != "preset"}).validate()
    if not given.out:
        return config, None
    out = user_path(given.out, "run folder (--out)")
    if overrides.get("out"):
        overrides["out"] = str(out)
    elif config is not None:
        config = config.replace(out=str(out))
    return config, out


def _out_of_memory_refused(run: Callable[[], TrainResult]) -> TrainResult:
    """``run()``, with running out of memory turned into one clear LstmvizError."""
    try:
        return run()
    except (RuntimeError, MemoryError) as e:
        if not out_of_memory(e):
            raise  # a bug, not a size: keep the traceback
        raise LstmvizError(
            f"out of memory ({first_line(e)}); use a smaller --batch-size, --seq-len, "
            "--hidden-size or --val-chars"
        ) from None


def _prepare(
    config: TrainConfig | None,
    overrides: dict,
    resume: bool,
    text: str | None,
    device: torch.device | None,
    ranks: distributed.Ranks | None = None,
) -> tuple[TrainConfig, dict | None, str, str, torch.device, dict]:
    """The config, the checkpoint to resume (or None), the text, the precision, the device and
    the record of the text (``corpus.read_corpus``; compared with the checkpoint's on resume)."""
    asked = overrides.get("corpus")  # None: resume on the corpus the run was trained on
    cfg, raw = _resolve(config, dict(overrides), resume)
    if ranks is not None:
        distributed.share(cfg.batch_size, ranks)  # refuse a batch that does not split, up front
    device = device or pick_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)  # before any work: refusals come first
    if text is None:
        if cfg.corpus == GIVEN_TEXT:
            raise LstmvizError(
                f"the run in {cfg.out!r} was trained on a text passed as train(text=...); "
                "pass the same text again to resume it"
            )
        text, data = _read_corpus(cfg, raw, asked)
    elif not isinstance(text, str) or not text:
        raise LstmvizError("text must be a non-empty string")
    elif not text.isascii() and _not_utf8(text):
        raise LstmvizError(
            "text contains a lone surrogate (not a character; e.g. from bytes decoded with "
            "surrogateescape); decode the file as UTF-8 first"
        )
    else:
        # so a checkpoint never claims a corpus it was not trained on
        cfg = cfg.replace(corpus=GIVEN_TEXT)
        data = corpus.record(GIVEN_TEXT, None, text.encode("utf-8"))
    if raw is not None:
        _check_same_data(raw, data, cfg)
    if isinstance(cfg.corpus, str) and public(cfg.corpus) != cfg.corpus:
        log.warning(
            "the corpus URL's query string is not saved in checkpoints or the run log (it may "
            "hold a secret); to resume, pass --corpus with the full URL again"
        )
    # the file's absolute path (found again from any folder), a URL without its query string
    cfg = cfg.replace(corpus=data["source"])
    return cfg, raw, text, precision, device, data


def _read_corpus(cfg: TrainConfig, raw: dict | None, asked: str | None) -> tuple[str, dict]:
    """The text of ``cfg.corpus`` and its record; a resumed run's corpus that cannot be read
    says how to name it (``--corpus``)."""
    try:
        return read_corpus(cfg.corpus)
    except LstmvizError as e:
        if raw is None or asked is not None:
            raise
        raise LstmvizError(
            f"the run in {cfg.out!r} was trained on corpus {cfg.corpus!r}, which cannot be read "
            f"now ({e}); pass --corpus with the path or URL of that text to resume"
        ) from None


def _check_same_data(raw: dict, data: dict, cfg: TrainConfig) -> None:
    """Refuse to resume on other data than the run trained on (by size and SHA-256)."""
    saved = raw.get("data")
    if saved is None:  # written before lstmviz recorded its data: the vocabulary check remains
        log.warning(
            "%s has no record of the data it was trained on; cannot check that %s is the same",
            raw.get("_path"),
            data["source"],
        )
        return
    if not corpus.same_data(saved, data):
        raise LstmvizError(
            f"the run in {cfg.out!r} was trained on {corpus.describe(saved)}, but "
            f"{corpus.describe(data)} holds other data (changed, or another file). Resume with "
            "--corpus naming the text it was trained on, or start a new --out"
        )


def _resolve(
    config: TrainConfig | None, overrides: dict, resume: bool
) -> tuple[TrainConfig, dict | None]:
    """The config to run, and the checkpoint dict to resume from (or None)."""
    # a pathlib.Path is accepted, and stored as the string it names: checkpoints and log.json
    # hold plain values only (and a resumed run compares the corpus as a string)
    overrides = {k: _as_str(k, v) for k, v in overrides.items()}
    preset = overrides.pop("preset", None)
    if config is None:
        config = TrainConfig.from_preset(preset, **overrides)
    else:
        config = config.replace(**overrides)
        config = config.replace(**{k: _as_str(k, getattr(config, k)) for k in _PATHS})
    out = Path(config.out) if config.out else None
    if not resume:
        held = run_files(out) if out is not None else []
        if LATEST in held:
            raise LstmvizError(
                f"{str(out)!r} already holds a checkpoint; pass --resume (resume=True) to continue "
                "it, or choose another --out folder"
            )
        if held:  # e.g. best.pt of a run killed before its first checkpoint.pt: never replace it
            raise LstmvizError(
                f"{str(out)!r} already holds files of another run ({', '.join(held)}) but no "
                f"{LATEST} to resume; a new run there would replace them. Choose another --out "
                "folder, or move those files away"
            )
        return config.validate(), None
    if out is None:
        raise LstmvizError("resume needs the run folder: give --out DIR (out=...)")
    raw = read_resumable(out)
    # the corpus may be named anew (a moved file, a relative path from another folder, a URL
    # whose query string was not saved): _check_same_data compares what it holds instead
    asked = overrides.pop("corpus", None)
    cfg = settings.resumed(raw["config"], overrides, str(out), str(out / LATEST))
    return (cfg if asked is None else cfg.replace(corpus=asked).validate()), raw


#: The settings that name a file or folder (a pathlib.Path is accepted for them).
_PATHS = ("corpus", "out")


def _as_str(name: str, value: Any) -> Any:
    """``value`` as a string if it is a path-like setting ``name``, else as it is."""
    return os.fspath(value) if name in _PATHS and isinstance(value, os.PathLike) else value


def _not_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check_model_fits(
    cfg: TrainConfig, vocab_size: int, device: torch.device, train_chars: int
) -> None:
    """Refuse, before building anything, a model whose training state cannot fit in memory, or
    (with ``out``) a run whose checkpoint -- model, optimizer and the history it records over
    ``train_chars`` characters -- would be larger than lstmviz reads back."""
    sizes = dict(vocab_size=vocab_size, hidden_size=cfg.hidden_size, num_layers=cfg.num_layers)
    params = param_count(**sizes, embedding_dim=cfg.embedding_dim)  # computed: nothing is built
    model = (
        f"a model with hidden_size={cfg.hidden_size}, num_layers={cfg.num_layers}, "
        f"embedding_dim={cfg.embedding_dim} and {vocab_size:,} characters has {params:,} parameters"
    )
    size = checkpoint.training_checkpoint_bytes(
        {**sizes, "embedding_dim": cfg.embedding_dim}, cfg.batch_size
    )
    cap = checkpoint.CHECKPOINT_CAP
    if cfg.out is not None and size > cap:  # first: it does not depend on this machine
        raise LstmvizError(
            f"{model}; its checkpoint would take about {size / 1e9:,.2f} GB, more than the "
            f"{cap / 1e9:g} GB lstmviz reads back (--resume, sample, export). Choose smaller "
            "sizes (or a corpus with fewer distinct characters)"
        )
    # float32 weights, gradients and Adam's two moments; and at least what one step holds: the
    # logits and their gradient (B, T, V), each layer's gates, cell and output (B, T, 6H), at 2
    # bytes a number (bf16 or fp16 autocast; float32 takes twice that): a lower bound
    need = 16 * params
    width = 2 * vocab_size + 6 * cfg.hidden_size * cfg.num_layers
    step = 2 * cfg.batch_size * cfg.seq_len * width
    have = memory_bytes(device)
    if have is not None and need + step > have:
        raise LstmvizError(
            f"{model} and needs at least {(need + step) / 1e9:,.1f} GB to train "
            f"({need / 1e9:,.1f} GB for weights and optimizer, {step / 1e9:,.1f} GB for one step "
            f"of --batch-size {cfg.batch_size} x --seq-len {cfg.seq_len}), more than the "
            f"{have / 1e9:.1f} GB of {device.type} memory here; choose smaller sizes"
        )
    entries, samples = _history_size(cfg, train_chars)
    history = 90 * entries + samples * (cfg.sample_len + 90)  # bytes, pickled: a lower bound
    if cfg.out is not None and size + history > cap:
        raise LstmvizError(
            f"a run of {cfg.steps:,} steps records about {entries:,} losses and {samples:,} "
            f"samples of {cfg.sample_len:,} characters, kept in every checkpoint: about "
            f"{(size + history) / 1e9:,.2f} GB with the model, more than the {cap / 1e9:g} GB "
            "lstmviz reads back. Use fewer --steps, a larger --log-every / --eval-every / "
            "--sample-every, or a shorter --sample-len (0: no samples)"
        )


def _history_size(cfg: TrainConfig, train_chars: int) -> tuple[int, int]:
    """(loss entries, samples) a run of ``cfg.steps`` steps records (see ``_Run.after_step``)."""
    per_pass = max(1, (train_chars - 1) // cfg.batch_size // cfg.seq_len)
    epochs = cfg.steps // per_pass
    entries = cfg.steps // cfg.log_every + cfg.steps // cfg.eval_every + epochs + 2
    samples = 0
    if cfg.sample_len:
        samples = epochs + (cfg.steps // cfg.sample_every if cfg.sample_every else 0) + 1
    return entries, samples


def _model(cfg: TrainConfig, vocab_size: int) -> CharLSTM:
    return CharLSTM(vocab_size, cfg.hidden_size, cfg.num_layers, cfg.dropout, cfg.embedding_dim)


# ----------------------------------------------------------------------------- the run


def _train(
    cfg: TrainConfig,
    raw: dict | None,
    text: str,
    data: dict,
    device: torch.device,
    precision: str,
    callback: Callable[[dict], None] | None,
    progress: bool,
    stop: StopOnSignal,
    ranks: distributed.Ranks | None,
) -> TrainResult:
    """Set up the run (data, model, resumed state, DDP), then ``training.loop`` it.

    ``ranks``: this process's place in a torchrun job, or None. Runs with the config resolved and
    the run folder held."""
    out = Path(cfg.out) if cfg.out else None
    train_text, val_text = split(text, cfg.val_fraction)
    need = cfg.batch_size * cfg.seq_len + 1
    if len(train_text) < need:
        raise LstmvizError(
            f"the corpus is too short: its training part has {len(train_text):,} characters, but "
            f"one batch of {cfg.batch_size} sequences of {cfg.seq_len} needs {need:,}. Use a "
            "longer text or a smaller --batch-size / --seq-len"
        )
    if len(val_text) < 2:
        raise LstmvizError(
            "the validation part of the corpus is empty; use a longer text or a larger val_fraction"
        )
    vocab = Vocab.from_text(text)
    if len(vocab) < 2:  # every prediction would be certain: a loss of 0 that means nothing
        raise LstmvizError(
            f"the corpus holds only one distinct character ({vocab.listing()}); a model has "
            "nothing to learn from it. Use a real text"
        )
    if cfg.sample_len:  # refused now, not after an epoch of training
        vocab.encode(cfg.sample_prime, what="sample prime (--sample-prime)")

    _check_model_fits(cfg, len(vocab), device, len(train_text))
    torch.manual_seed(cfg.seed)
    try:
        model = _model(cfg, len(vocab))
    except (RuntimeError, MemoryError) as e:  # the allocation of the weights failed
        raise LstmvizError(
            f"cannot build a model with hidden_size={cfg.hidden_size}, num_layers="
            f"{cfg.num_layers}, embedding_dim={cfg.embedding_dim} here ({first_line(e)}); "
            "choose smaller sizes"
        ) from None
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    model.to(device)
    resumed = (
        Resumed() if raw is None else restore(raw, model, optimizer, vocab, cfg.batch_size, out)
    )
    # Under torchrun: this rank's share of the streams (all rows otherwise), DDP around the model.
    rows = slice(None) if ranks is None else distributed.share(cfg.batch_size, ranks)
    net, state = model, resumed.state  # the CharLSTM itself: validated, saved and returned
    trained: torch.nn.Module = net  # what the loop trains: net, or DDP around it
    if ranks is not None:
        state = None if state is None else (state[0][:, rows], state[1][:, rows])
        trained = distributed.wrap(net, device)
        if not ranks.main:  # rank 0 carries on the run's RNG; the others draw their own dropout
            torch.manual_seed(cfg.seed + 1_000_003 * ranks.rank + resumed.step)

    amp, scaler = autocast_for(precision, device)

    x, y = training.streams(vocab.encode(train_text, what="corpus").to(device), cfg.batch_size)
    x, y = x[rows], y[rows]
    val_ids = vocab.encode(
        val_text[: cfg.val_chars + 1] if cfg.val_chars else val_text, what="corpus"
    )
    vx, vy = training.validation_streams(val_ids.to(device), cfg.batch_size, cfg.seq_len)

    run = _Run(
        cfg=cfg,
        net=net,
        model=trained,
        optimizer=optimizer,
        vocab=vocab,
        out=out,
        ranks=ranks,
        device=device,
        precision=precision,
        scaler=scaler,
        amp=amp,
        callback=callback,
        progress=progress,
        stop=stop,
        per_pass=x.shape[1] // cfg.seq_len,
        chars_per_step=x.shape[0] * cfg.seq_len * (1 if ranks is None else ranks.world_size),
        train_chars=len(train_text),
        val=(vx, vy),
        data=data,
    )
    run.begin(resumed, from_checkpoint=raw is not None)
    stop.looping = True
    try:
        step, state = training.loop(
            trained,
            optimizer,
            x,
            y,
            cfg,
            run.after_step,
            start=resumed.step,
            state=state,
            autocast=amp,
            scaler=scaler,
            rows=rows,
        )
        if out is not None and run.main and step == resumed.step and not (out / LATEST).exists():
            run.save(LATEST, state)  # steps <= the resumed step: still leave a checkpoint behind
    except LstmvizError as e:
        if run.main or isinstance(e, distributed.Echo):
            raise
        raise distributed.Echo(str(e)) from None  # every rank stops alike; rank 0 reports it
    except RuntimeError as e:
        if ranks is None or not distributed.lost(e):
            raise
        raise distributed.PeerLost(
            f"{distributed.failure(e, ranks)}; stopped after step {run.step}. The last checkpoint "
            f"is {_last_checkpoint(out)}: run the same torchrun command with --resume to continue"
        ) from None
    finally:
        run.bar.close()

    net.eval()
    return TrainResult(
        model=net,
        vocab=vocab,
        config=cfg,
        step=step,
        train_loss=run.last_train,
        val_loss=run.val_loss,
        best_val_loss=run.best,
        history=run.history,
        out=out,
    )


@dataclass(eq=False)
class _Run:
    """What ``train`` does around the loop, between two steps: log, validate, sample, save, stop.

    Under torchrun every rank calls ``after_step`` (its collectives need them all); rank 0 alone
    (``main``) validates, samples, calls back and writes files.
    """

    cfg: TrainConfig
    net: CharLSTM  # the model itself: validated, sampled, saved and returned
    model: torch.nn.Module  # what the loop trains: ``net``, or its DDP wrapper under torchrun
    optimizer: torch.optim.Optimizer
    vocab: Vocab
    out: Path | None  # the run folder, or None: nothing is written
    ranks: distributed.Ranks | None  # this process's place in a torchrun job, or None
    device: torch.device
    precision: str  # "fp32", "bf16" or "fp16", as the log entries say
    scaler: torch.amp.GradScaler | None  # fp16's: it skips steps with non-finite gradients itself
    amp: Any  # the loop's autocast context (or None), for validation too
    callback: Callable[[dict], None] | None
    progress: bool  # a tqdm bar, and a line per validation and sample
    stop: StopOnSignal
    per_pass: int  # steps per epoch (a pass over the training text)
    chars_per_step: int  # characters one step trains on, all ranks together
    train_chars: int  # characters of the training text, for the log
    val: tuple[torch.Tensor, torch.Tensor]  # the validation streams (B, n)
    data: dict  # what the run trains on (corpus.read_corpus's record), saved in checkpoints
    # set by begin() and after each step
    val_loss: float | None = field(init=False, default=None)
    last_train: float | None = field(init=False, default=None)

    @property
    def main(self) -> bool:
        """Whether this process validates, calls back and writes files (rank 0, or the only one)."""
        return self.ranks is None or self.ranks.main

    @property
    def world(self) -> int:
        """How many processes train together (1 without torchrun)."""
        return 1 if self.ranks is None else self.ranks.world_size

    def begin(self, resumed: Resumed, *, from_checkpoint: bool = False) -> None:
        """Start the clock and the progress bar at the resumed step, with its losses and history."""
        self.resumed_at = resumed.step if from_checkpoint else None
        self.step, self.best = resumed.step, resumed.best_val_loss
        self.val_loss, self.history = resumed.val_loss, resumed.history
        self.t_start = time.perf_counter()
        self.t_log, self.loss_sum, self.loss_n, self.last_train = self.t_start, 0.0, 0, None
        self.bar = tqdm(
            total=self.cfg.steps,
            initial=self.step,
            disable=not self.progress,
            desc=f"train ({self.device.type}, {self.precision})",
            unit="step",
        )

    def after_step(self, step: int, loss: float, norm: float, lr: float, state: Any) -> None:
        """After step ``step`` (1-based): stop on a diverged loss, log, validate, sample and save
        when each is due, and stop after a signal (saving first)."""
        cfg, out, main = self.cfg, self.out, self.main
        agreed = None
        if self.ranks is not None:
            # the whole batch's loss (the mean of the ranks' equal shares), and a signal to any
            # rank stops them all after this same step
            loss, agreed = distributed.agree(loss, self.stop.signum, self.ranks, self.device)
        if not math.isfinite(loss):
            self._diverged("loss", loss, step)
        if self.scaler is None and not math.isfinite(norm):
            self._diverged("gradient norm", norm, step)
        self.step = step
        self.loss_sum, self.loss_n = self.loss_sum + loss, self.loss_n + 1
        self.bar.update(1)
        epoch_end = step % self.per_pass == 0  # a whole pass over the training text
        if step % cfg.log_every == 0 or step == cfg.steps:
            self._log_train(step, lr)
        due_eval = step % cfg.eval_every == 0 or step == cfg.steps or epoch_end
        due_sample = cfg.sample_len > 0 and (
            (cfg.sample_every and step % cfg.sample_every == 0) or epoch_end or step == cfg.steps
        )
        due_save = out is not None and (
            (cfg.save_every and step % cfg.save_every == 0) or step == cfg.steps
        )
        keep = out is not None and epoch_end and step // self.per_pass <= cfg.keep_epochs
        # every rank's streams, for a checkpoint (a collective: all ranks take part)
        need_state = out is not None and (due_eval or due_save or keep)
        full = self._all_streams(state) if need_state else None
        if main:  # rank 0 alone validates, samples and writes; the others wait at the next step
            if due_eval:
                self._validate(step, lr)
            if due_sample:
                self._sample(step)
            if keep:
                self.save(epoch_file(step // self.per_pass), full)
            if (
                due_eval
                and self.val_loss is not None
                and (self.best is None or self.val_loss < self.best)
            ):
                self.best = self.val_loss
                if out is not None:
                    self.save(BEST, full)
            if due_save:
                self.save(LATEST, full)
            if out is not None and (due_eval or due_sample or due_save):
                self.write_log()
        signum = self.stop.signum if self.ranks is None else agreed
        if signum is not None:  # Ctrl-C / SIGTERM: this step is whole; keep it
            if out is not None:
                full = full or self._all_streams(state)
                if main:
                    self.save(LATEST, full)
                    self.write_log()
            raise TrainingInterrupted(signum, step, out)

    def _diverged(self, what: str, value: float | str, step: int) -> None:
        """Stop: the last good checkpoint is named, unless it is the one just resumed from and
        the very first step after it diverged -- then that checkpoint is not called good."""
        if self.resumed_at is not None and step == self.resumed_at + 1 and self.out is not None:
            raise LstmvizError(
                f"training {what} became {value} at step {step}, the first step after resuming "
                f"from {str(self.out / LATEST)!r} (step {self.resumed_at}): that checkpoint "
                "leads to NaN at once, so its weights or training state are likely damaged. "
                "Resume from an earlier copy of it, or start a new run in another --out folder"
            )
        _diverged(what, value, step, self.out)

    def _emit(self, entry: dict) -> None:
        self.history.append({**entry, "epoch": entry["step"] / self.per_pass})
        if self.callback is not None:
            self.callback(self.history[-1])

    def _log_train(self, step: int, lr: float) -> None:
        """A "train" entry: the mean loss since the last one, and the speed."""
        now = time.perf_counter()
        self.last_train = self.loss_sum / self.loss_n
        speed = self.loss_n * self.chars_per_step / max(now - self.t_log, 1e-9)
        self._emit(
            _entry(
                "train", step, self.last_train, None, lr, speed, now - self.t_start, self.precision
            )
        )
        self.bar.set_postfix(train=_fmt(self.last_train), val=_fmt(self.val_loss))
        self.t_log, self.loss_sum, self.loss_n = now, 0.0, 0

    def _validate(self, step: int, lr: float) -> None:
        """A "val" entry: the loss on the validation streams (a diverged one stops the run)."""
        vx, vy = self.val
        self.val_loss = val_loss = training.validation_loss(
            self.net, vx, vy, self.cfg.seq_len, self.amp
        )
        self.model.train()
        if not math.isfinite(val_loss):
            self._diverged("validation loss", val_loss, step)
        # last_train is None when a resumed run validates before its first log
        self.bar.set_postfix(train=_fmt(self.last_train), val=_fmt(val_loss))
        elapsed = time.perf_counter() - self.t_start
        self._emit(
            _entry("val", step, self.last_train, val_loss, lr, None, elapsed, self.precision)
        )
        if self.progress:
            self.bar.write(
                f"step {step}: train {_fmt(self.last_train, 4)}  val {val_loss:.4f} nats/char "
                f"({bits(val_loss):.3f} bits/char, perplexity {perplexity(val_loss):.2f})"
            )

    def _sample(self, step: int) -> None:
        """A "sample" entry: the same prime and seed every time; the global RNG is untouched."""
        cfg = self.cfg
        text = generate(
            self.net,
            self.vocab,
            cfg.sample_prime,
            cfg.sample_len,
            top_k=cfg.sample_top_k,
            seed=cfg.seed,
        )
        self.model.train()
        self._emit(
            {
                "kind": "sample",
                "step": step,
                "prime": cfg.sample_prime,
                "text": text,
                "top_k": cfg.sample_top_k,
                "seed": cfg.seed,
                "elapsed": time.perf_counter() - self.t_start,
            }
        )
        if self.progress:
            self.bar.write(f"step {step} sample: {cfg.sample_prime + text!r}"[:200])

    def save(self, name: str, train_state: Any) -> None:
        """Write OUT/name with the training state (never weights that went NaN or infinite)."""
        if not _all_finite(self.net):  # never write poisoned weights over a good checkpoint
            self._diverged("weights", "NaN or infinite", self.step)
        assert self.out is not None  # called only for a run with a folder
        save_checkpoint(
            self.out / name,
            self.net,
            self.vocab,
            step=self.step,
            config=self.cfg.to_dict(),
            val_loss=self.val_loss,
            best_val_loss=self.best,
            optimizer=self.optimizer,
            history=self.history,
            train_state=train_state,
            world_size=self.world,
            data=self.data,
        )

    def write_log(self) -> None:
        """OUT/log.json: what a lesson loads (json.load), whole at any moment."""
        log = {
            "format": LOG_FORMAT,
            "config": self.cfg.to_dict(),
            "steps_per_epoch": self.per_pass,
            "chars_per_step": self.cfg.batch_size * self.cfg.seq_len,
            "train_chars": self.train_chars,
            "val_chars_scored": self.val[0].numel(),
            "history": self.history,
        }
        data = json.dumps(_finite_or_none(log), indent=1, ensure_ascii=False, allow_nan=False)
        assert self.out is not None  # called only for a run with a folder
        # a path that is not UTF-8 (its bytes kept as surrogates) becomes a JSON \\udcXX escape,
        # which json.load turns back into the same string
        blob = data.encode("utf-8", "backslashreplace")
        atomic_write(self.out / LOG, lambda f: f.write(blob), "run log")

    def _all_streams(self, state: Any) -> Any:
        """The carried (h, c) of all batch_size streams: gathered from every rank under torchrun."""
        if state is None or self.ranks is None:
            return state
        return distributed.gather_state(state, self.ranks)


def _entry(
    kind: str,
    step: int,
    train_loss: float | None,
    val_loss: float | None,
    lr: float,
    chars_per_sec: float | None,
    elapsed: float,
    precision: str,
) -> dict:
    """A "train" or "val" history entry (see ``train``'s docstring)."""
    return {
        "kind": kind,
        "step": step,
        "train_loss": train_loss,
        "val_loss": val_loss,
        "train_bpc": None if train_loss is None else bits(train_loss),
        "val_bpc": None if val_loss is None else bits(val_loss),
        "val_perplexity": None if val_loss is None else perplexity(val_loss),
        "lr": lr,
        "chars_per_sec": chars_per_sec,
        "elapsed": elapsed,
        "precision": precision,
    }


def _fmt(loss: float | None, digits: int = 3) -> str:
    return "-" if loss is None else f"{loss:.{digits}f}"


def _finite_or_none(value: Any) -> Any:
    """``value`` with every inf or NaN float replaced by None (strict JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(v) for v in value]
    return value


def _all_finite(model: torch.nn.Module) -> bool:
    """Whether every parameter is free of NaN and inf (one device sync)."""
    return bool(torch.stack([torch.isfinite(p).all() for p in model.parameters()]).all())


def _diverged(what: str, value: float | str, step: int, out: Path | None) -> None:
    """Stop training: raise LstmvizError saying where the last good checkpoint is."""
    where = _last_checkpoint(out)
    raise LstmvizError(
        f"training {what} became {value} at step {step}; stopped without saving it. The last "
        f"good checkpoint is {where}. Try a lower --lr or a smaller --grad-clip"
    )


def _last_checkpoint(out: Path | None) -> str:
    """Where the run's latest checkpoint is and its step, for messages after a failure."""
    if out is None or not (out / LATEST).exists():
        return "nowhere (no checkpoint yet)"
    try:
        return f"{str(out / LATEST)!r} (step {int(read_raw(out / LATEST)['step'])})"
    except LstmvizError:
        return repr(str(out / LATEST))
