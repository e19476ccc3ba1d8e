"""Where a model runs and in what precision: the device, bfloat16 detection, autocast, memory.

``pick_device`` chooses CUDA, then Apple MPS, then the CPU. ``resolve_precision`` turns
``--precision auto`` into what this device computes natively: bf16 is detected, not guessed (a
CUDA GPU of compute capability 8.0+, a CPU whose flags show bf16 instructions). ``memory_bytes``
says how much memory a model's training state may take here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from .config import PRECISIONS
from .errors import LstmvizError


def pick_device(name: str | None = None) -> torch.device:
    """``name`` if given and available, else the best device here: cuda -> mps -> cpu."""
    if name:
        try:
            device = torch.device(name)
        except RuntimeError:
            device = None
        if device is None or device.type not in ("cpu", "cuda", "mps"):  # meta, xla...: unusable
            raise LstmvizError(f"unknown device {name!r}; use cpu, cuda, cuda:0 or mps") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise LstmvizError(
                "device 'cuda' asked for, but no CUDA GPU is available; use --device cpu"
            )
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise LstmvizError(
                "device 'mps' asked for, but Apple MPS is not available; use --device cpu"
            )
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def native_bf16(device: str | torch.device) -> bool:
    """Whether ``device`` computes bfloat16 natively (detected, not guessed).

    CUDA: compute capability 8.0 or newer (Ampere+). CPU: the bf16 instructions the OS reports:
    x86 ``avx512_bf16`` or ``amx_bf16`` in /proc/cpuinfo's flags, ARM ``bf16`` in its Features, or
    macOS's ``hw.optional.arm.FEAT_BF16``. Elsewhere (MPS, Windows CPUs): False.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8
    if device.type != "cpu":
        return False
    for line in _cpuinfo().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":  # x86
            return bool({"avx512_bf16", "amx_bf16"} & set(value.split()))
        if key.strip() == "Features":  # aarch64
            return "bf16" in value.split()
    return sys.platform == "darwin" and _sysctl("hw.optional.arm.FEAT_BF16") == "1"


def _cpuinfo() -> str:
    """The text of /proc/cpuinfo ("" where there is none: macOS, Windows)."""
    try:
        return Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return ""


def _sysctl(name: str) -> str:
    """macOS ``sysctl -n name`` ("" if it cannot be read)."""
    try:
        run = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return ""
    return run.stdout.strip()


def resolve_precision(precision: str, device: str | torch.device) -> str:
    """The precision a run on ``device`` uses: "fp32", "bf16" or "fp16" (``precision``: or "auto").

    ``auto``: bf16 where ``native_bf16(device)``; fp16 on a CUDA GPU without bf16; fp32 elsewhere.
    bf16 costs nothing measurable in loss: ``benchmarks/bench_training.py`` compares the
    validation loss of the same quick-preset run in fp32 and bf16 (rule: within 0.03 nats/char).
    """
    device = torch.device(device)
    if precision not in PRECISIONS:
        raise LstmvizError(
            f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}"
        )
    if precision == "auto":
        if native_bf16(device):
            return "bf16"
        return "fp16" if device.type == "cuda" else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise LstmvizError(
            f"--precision fp16 needs a CUDA GPU (on {device.type} float16 is slow and needs loss "
            "scaling); use --precision bf16 or fp32"
        )
    if precision == "bf16" and device.type == "mps":
        raise LstmvizError("--precision bf16 is not supported on mps here; use --precision fp32")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise LstmvizError("this CUDA GPU has no bfloat16; use --precision fp16 or fp32")
    return precision


def autocast_for(
    precision: str, device: str | torch.device
) -> tuple[Any, torch.amp.GradScaler | None]:
    """(autocast context or None, GradScaler or None) for a resolved precision on ``device``."""
    device = torch.device(device)
    if precision == "fp32":
        return None, None
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    amp = torch.autocast(device.type, dtype=dtype)
    # fp16's range is narrow: small gradients underflow unless the loss is scaled up first
    return amp, torch.amp.GradScaler(device.type) if precision == "fp16" else None


def memory_bytes(device: torch.device) -> int | None:
    """Memory of ``device`` in bytes: the GPU's, or the machine's RAM (None: cannot tell here)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[1]
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not on this system: let torch try
        return None


def out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` says an allocation failed (torch's OutOfMemoryError, a CPU allocator's
    "can't allocate memory", MemoryError) rather than a bug."""
    # torch.cuda.OutOfMemoryError: the same class as torch.OutOfMemoryError (torch >= 2.5), and
    # the only name it has in torch 2.3 and 2.4
    return isinstance(error, MemoryError | torch.cuda.OutOfMemoryError) or (
        isinstance(error, RuntimeError)
        and any(m in str(error) for m in ("can't allocate memory", "not enough memory"))
    )
