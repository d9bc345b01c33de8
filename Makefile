# Two commands do all the set-up: `make book` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Data cache and experiment results live inside the project (both git-ignored).
export GLTH_DATA_DIR ?= $(CURDIR)/data
export GLTH_RESULTS_DIR ?= $(CURDIR)/results
export PYTHONHASHSEED := 0

.PHONY: venv data test unit notebooks-test book bench clean help

help:
	@echo "make book   - install, fetch Fashion-MNIST, run the experiments, build _build/html"
	@echo "make test   - install, run the unit tests, execute the notebooks (smoke) under nbval, check the built book"
	@echo "make data   - fetch the default data set (Fashion-MNIST) into the data cache"
	@echo "make bench  - benchmark each basis against the canonical one (steps, evaluation, memory, a lottery run)"

# (Re)install only when requirements.txt or pyproject.toml changed.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	@touch $(STAMP)

venv: $(STAMP)

data: venv
	$(PY) -m glth_core.data fetch fashion_mnist

unit: venv
	$(PY) -m pytest tests

notebooks-test: venv
	$(PY) tools/book.py smoke

test: unit notebooks-test

book: venv data
	$(PY) tools/book.py build

bench: venv data
	$(PY) benchmarks/run.py --lottery

clean:
	rm -rf _build
