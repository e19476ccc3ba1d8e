# Two commands on a fresh machine (see README):  make lab   and   make test
# Everything installs into .venv so a system Python is never touched.
PYTHON ?= python3
VENV   ?= .venv
# The version the suite is tested with.
TORCH  ?= torch==2.13.0
# Where pip gets torch: tools/torch_index.py prints PyTorch's CPU wheel index on Linux with no
# NVIDIA GPU (about 200 MB instead of PyPI's 3 GB CUDA build), nothing (PyPI) elsewhere.
# Override: `make lab TORCH_INDEX=` uses PyPI and pip's own settings (CI: torch from local disk).
TORCH_INDEX ?= $(shell $(PYTHON) tools/torch_index.py)
BIN    := $(VENV)/bin
PORT   ?= 8888
# make voila: the notebook it shows ("05" or a lesson's name; empty: lessons/explorer.ipynb)
LESSON ?=
VOILA_PORT ?= 8866

.PHONY: setup setup-test setup-site setup-frontends lab notebook voila test test-compat lessons lessons-elsewhere lint bench gpu-check \
	site site-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs once (until pyproject.toml changes), so a later `make lab` needs no network.
setup: $(VENV)/.installed
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(BIN)/pip install --quiet -e .
	touch $@

# Notebook 7 and Voila (the [frontends] extra), once, for make notebook and make voila.
setup-frontends: $(VENV)/.frontends
$(VENV)/.frontends: $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[frontends]"
	touch $@

setup-test: setup setup-site
	$(BIN)/pip install --quiet -e ".[test,browser]"
	bash .ci/install-chromium

# The website's tools: the [site] extra (Sphinx, myst-nb, furo, KaTeX's Sphinx extension) and the
# npm packages that website/package-lock.json pins (plotly.js, KaTeX), with Debian's Node.js.
setup-site: setup website/node_modules/.package-lock.json
	$(BIN)/pip install --quiet -e ".[site]"
website/node_modules/.package-lock.json: website/package-lock.json
	bash .ci/install-node
	npm ci --prefix website --no-audit --no-fund --ignore-scripts

# The lessons as a static website in build/site (from their committed outputs, never executed);
# serve it with `python -m http.server -d build/site`. make test builds and browser-tests it.
site: setup-site
	$(BIN)/python tools/site/build.py --out build/site

# The site's browser test alone, on the site `make site` built.
site-test: site setup-test
	LSTMVIZ_SITE=build/site $(BIN)/python -m pytest -p no:cacheprovider tests/test_site.py

# Set up, then open the lessons in JupyterLab (root or not, headless or not, no news prompt).
lab: setup
	$(BIN)/python tools/lab.py --port=$(PORT)

# The same in Notebook 7, and one notebook in Voila (outputs only): the same launcher, so the same
# settings (root or not, 127.0.0.1, no browser without a display, no news prompt, no token to type).
notebook: setup-frontends
	$(BIN)/python tools/lab.py --app=notebook --port=$(PORT)

voila: setup-frontends
	$(BIN)/python tools/lab.py --app=voila --notebook=$(LESSON) --port=$(VOILA_PORT)

# nbval runs every lesson; --nbval-lax compares digit for digit only the outputs of cells marked
# `# NBVAL_CHECK_OUTPUT` (identical on every machine by construction: text, shapes, counts). What
# the other cells show rests on the lessons' own claims, checked with margins (ARCHITECTURE.md).
NBVAL := --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg
# The lessons' kernels compute on one thread each (torch.set_num_threads(1)): two lessons at once
# (pytest-xdist, one notebook per worker, its cells in order) halve their wall time on two cores.
LESSONS_AT_ONCE := -n 2 --dist loadfile

# Set up, then run the whole suite: ruff, the layers, mypy over lstmviz/ ([tool.mypy] in
# pyproject.toml), unit tests, the browser tests (the explorers in three
# front-ends; the website, built afresh by tests/test_site.py), nbval on every lesson, and every
# lesson again with other CPU kernels and one thread.
test: setup-test
	$(BIN)/python -m ruff check lstmviz tests benchmarks lessons tools website
	$(BIN)/lint-imports
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest $(NBVAL) tests
	$(BIN)/python -m pytest $(NBVAL) $(LESSONS_AT_ONCE) -p no:cacheprovider lessons
	$(MAKE) lessons-elsewhere

# Every lesson as a machine that did not execute them runs it: ATen's portable kernels instead of
# this CPU's vectorised ones (other rounding) and one thread. Every claim must still hold.
lessons-elsewhere: setup-test
	ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
		$(BIN)/python -m pytest $(NBVAL) $(LESSONS_AT_ONCE) -p no:cacheprovider lessons

# CI's extra jobs, after `make test`: the unit tests against the lowest versions pyproject.toml
# allows (Python 3.11) and on the newest Python here, each in its own venv (tools/test_compat.sh).
test-compat: setup-test
	bash tools/test_compat.sh

# Re-execute every lesson in place, so the committed outputs match the library.
lessons: setup
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=600 --ExecutePreprocessor.store_widget_state=False lessons/[0-9]*.ipynb

lint: setup-test
	$(BIN)/python -m ruff check lstmviz tests benchmarks lessons tools website

bench: setup
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

# On a machine with an NVIDIA GPU: a one-shot check (<= 5 minutes), report in benchmarks/results/.
gpu-check: setup
	$(BIN)/python benchmarks/gpu_check.py
