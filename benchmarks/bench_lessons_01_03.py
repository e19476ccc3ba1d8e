"""Time lessons 01-03 top to bottom.

The budget: <= 120 s each on a 2-core CPU; we aim for 60 s.

Runs each notebook in a fresh kernel with nbclient (outputs are not written back) and prints
wall-clock seconds and the fraction of the budget used. On a shared machine the numbers are
noisy: compare runs made at the same time, or run with nothing else busy.

    python benchmarks/bench_lessons_01_03.py [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

LESSONS = ("01_vanilla_rnn", "02_vanishing_gradients", "03_lstm_cell")
BUDGET_S, TARGET_S = 120.0, 60.0
ROOT = Path(__file__).resolve().parents[1]


def run_once(name: str) -> float:
    """Seconds to execute lessons/<name>.ipynb in a fresh kernel."""
    nb = nbformat.read(ROOT / "lessons" / f"{name}.ipynb", as_version=4)
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(ROOT / "lessons")}},
    )
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="runs per lesson (median reported)")
    args = parser.parse_args()
    print(f"{'lesson':<26}{'median s':>10}{'of target':>11}{'of budget':>11}")
    for name in LESSONS:
        seconds = statistics.median(run_once(name) for _ in range(args.repeats))
        print(f"{name:<26}{seconds:>10.1f}{seconds / TARGET_S:>10.0%} {seconds / BUDGET_S:>10.0%}")


if __name__ == "__main__":
    main()
