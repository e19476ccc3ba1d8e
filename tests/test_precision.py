"""--precision auto|fp32|bf16|fp16: native-bf16 detection, the choice, checkpoints, resume."""

from __future__ import annotations

import pytest
import torch

import lstmviz.core.device as device
from lstmviz.__main__ import main
from lstmviz.core.checkpoint import LATEST, read_raw
from lstmviz.core.errors import LstmvizError
from lstmviz.core.training import native_bf16, resolve_precision, train

X86 = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 avx2 avx512f {}\n"
ARM = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd sve {}\nCPU part\t: 0xd40\n"


@pytest.mark.parametrize(
    "cpuinfo, native",
    [
        (X86.format("avx512_bf16 avx512_vnni"), True),
        (X86.format("amx_tile amx_bf16"), True),
        (X86.format("avx512_vnni avx512_fp16"), False),  # fp16 instructions are not bf16
        (ARM.format("i8mm bf16 sb"), True),
        (ARM.format("i8mm svebf16"), False),  # only the SVE form: not the word "bf16"
    ],
)
def test_native_bf16_reads_the_cpu_flags(monkeypatch, cpuinfo, native):
    monkeypatch.setattr(device, "_cpuinfo", lambda: cpuinfo)
    assert native_bf16("cpu") is native
    assert resolve_precision("auto", "cpu") == ("bf16" if native else "fp32")


def test_native_bf16_on_macos_asks_sysctl(monkeypatch):
    asked = []
    monkeypatch.setattr(device, "_cpuinfo", lambda: "")
    monkeypatch.setattr(device, "_sysctl", lambda name: asked.append(name) or "1")
    monkeypatch.setattr(device.sys, "platform", "darwin")
    assert native_bf16("cpu") is True and asked == ["hw.optional.arm.FEAT_BF16"]
    monkeypatch.setattr(device, "_sysctl", lambda name: "0")
    assert native_bf16("cpu") is False
    monkeypatch.setattr(device.sys, "platform", "win32")
    assert native_bf16("cpu") is False  # nothing to read: float32


def test_explicit_precisions_and_refusals():
    assert resolve_precision("fp32", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"  # asked for: allowed, even if emulated
    with pytest.raises(LstmvizError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16", "cpu")
    with pytest.raises(LstmvizError, match="unknown precision 'half'"):
        resolve_precision("half", "cpu")


def test_cli_refuses_fp16_on_cpu(capsys):
    assert main(["train", "--precision", "fp16", "--device", "cpu", "--steps", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --precision fp16 needs a CUDA GPU") and "\n" not in err


@pytest.mark.parametrize("first, second", [("fp32", "bf16"), ("bf16", "fp32")])
def test_resume_across_precisions(tmp_path, tiny_config, tiny_text, first, second):
    """Checkpoints hold float32 weights and state in any precision; a run resumes in another."""
    cfg = tiny_config.replace(steps=10, out=str(tmp_path / "run"), precision=first)
    a = train(cfg, text=tiny_text, progress=False)
    raw = read_raw(tmp_path / "run" / LATEST)
    assert all(v.dtype == torch.float32 for v in raw["model"].values() if v.is_floating_point())
    assert raw["train_state"]["h"].dtype == raw["train_state"]["c"].dtype == torch.float32
    b = train(text=tiny_text, out=str(tmp_path / "run"), resume=True, steps=20, precision=second)
    steps = [e for e in b.history if e["kind"] != "sample"]  # samples record no precision
    assert {e["precision"] for e in steps if e["step"] <= 10} == {first}
    assert {e["precision"] for e in steps if e["step"] > 10} == {second}
    assert b.step == 20 and b.val_loss < a.val_loss  # it went on learning
    assert b.config.precision == second


def test_bf16_loss_close_to_fp32(tiny_config, tiny_text):
    """The same tiny run in bf16 and fp32: the same start, nearly the same losses."""
    cfg = tiny_config.replace(steps=10, reset_prob=0.0)
    fp32 = train(cfg.replace(precision="fp32"), text=tiny_text, progress=False)
    bf16 = train(cfg.replace(precision="bf16"), text=tiny_text, progress=False)
    assert bf16.val_loss == pytest.approx(fp32.val_loss, abs=0.05)
    assert bf16.val_loss != fp32.val_loss  # it really ran in another precision
