"""Print pip constraints pinning each runtime dependency to the lowest version pyproject allows.

    python tools/lowest_constraints.py > lowest.txt && pip install -c lowest.txt -e ".[test]"

Used by tools/test_compat.sh (make test-compat): the unit tests then run against exactly the
lower bounds that pyproject.toml declares, so a bound that is not true fails CI.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def lowest_pins(dependencies: list[str]) -> list[str]:
    """``["torch>=2.3,<3", ...]`` -> ``["torch==2.3", ...]``; every dependency needs a ``>=``."""
    pins = []
    for dep in dependencies:
        match = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*[^;]*?>=\s*([^,;\s]+)", dep)
        if not match:
            raise SystemExit(f"{dep!r} in pyproject.toml has no lower bound (>=)")
        pins.append(f"{match.group(1)}=={match.group(2)}")
    return pins


if __name__ == "__main__":
    deps = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    print("\n".join(lowest_pins(deps)))
