"""The README's library tour runs as written (docs that drift from the code mislead students)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102 - our own README
    trace, rec = namespace["trace"], namespace["rec"]
    T = len("To be, or not to be")
    assert tuple(trace["forget", 1].shape) == (1, T, 512)
    assert rec.trace["c", -1].shape[-1] == 512
    assert len(capsys.readouterr().out) >= 300 + 200  # the two generated texts were printed
