# Two commands on a fresh machine (see README):  make lab   and   make test
# Everything installs into .venv so a system Python is never touched.
PYTHON ?= python3
VENV   ?= .venv
# The version the suite is tested with; on a GPU machine PyPI's build of it comes with CUDA.
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
PORT   ?= 8888

.PHONY: setup setup-test lab test lessons lint bench gpu-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

setup: $(BIN)/python
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e .

setup-test: setup
	$(BIN)/pip install --quiet -e ".[test]"
	bash .ci/install-chromium

# Set up, then open the lessons in JupyterLab.
lab: setup
	$(BIN)/jupyter lab --port=$(PORT) lessons/

# Set up, then run the whole suite: unit tests, the browser test, and nbval on every lesson.
test: setup-test
	$(BIN)/python -m ruff check lstmviz tests benchmarks lessons
	$(BIN)/lint-imports
	$(BIN)/python -m pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg tests lessons

# Re-execute every lesson in place, so the committed outputs match the library.
lessons: setup
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=600 --ExecutePreprocessor.store_widget_state=False lessons/[0-9]*.ipynb

lint: setup-test
	$(BIN)/python -m ruff check lstmviz tests benchmarks lessons

bench: setup
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

# On a machine with an NVIDIA GPU: a one-shot check (<= 5 minutes), report in benchmarks/results/.
gpu-check: setup
	$(BIN)/python benchmarks/gpu_check.py
