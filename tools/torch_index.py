"""Print the package index `make setup` installs torch from: PyTorch's CPU index, or nothing (PyPI).

    python3 tools/torch_index.py      # run by the Makefile (TORCH_INDEX) before .venv exists

On Linux, PyPI's torch is a CUDA build (about 3 GB of downloads, a 6 GB venv); with no NVIDIA
GPU to use it, PyTorch's CPU wheel index gives the same torch in about 200 MB. So: Linux with no
NVIDIA GPU visible (no /proc/driver/nvidia/version, no working `nvidia-smi -L`) -> the CPU index;
anything else (a GPU, macOS, Windows, whose PyPI wheels carry no CUDA) -> empty, meaning PyPI.
Override with `make lab TORCH_INDEX=` (PyPI, or pip's own configuration) or TORCH_INDEX=<url>.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
NVIDIA_MARKER = Path("/proc/driver/nvidia/version")  # exists once the NVIDIA driver is loaded


def nvidia_gpu_visible(marker: Path = NVIDIA_MARKER, smi: str = "nvidia-smi") -> bool:
    """True if the NVIDIA driver is loaded or `nvidia-smi -L` lists a GPU."""
    if marker.exists():
        return True
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def torch_index(platform: str = sys.platform, gpu: bool | None = None) -> str:
    """The index URL for torch on this machine, or "" for PyPI."""
    if not platform.startswith("linux"):
        return ""
    return "" if (nvidia_gpu_visible() if gpu is None else gpu) else CPU_INDEX


if __name__ == "__main__":
    print(torch_index())
