# Quick start: `make repro` (run the pipeline) and `make test` (run the tests).
# Both create .venv on first use and install the project into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install repro test test-fast lint format bench clean-venv report readme compare compare-table

# The venv's bytecode is compiled on every core after pip (pip compiles on one core: half of the
# install's time). Every stage imports from these caches, and only from them where
# PYTHONDONTWRITEBYTECODE=1. torch's one file in Python 3.12 syntax is left out (pip skips it too).
$(STAMP): pyproject.toml tests/requirements-quantus.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-compile --no-deps -r tests/requirements-quantus.txt
	$(BIN)/python -m compileall -q -j 0 -x '/torch/testing/_internal/py312_intrinsics\.py$$' \
		$(VENV)/lib
	touch $(STAMP)

install: $(STAMP)

repro: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro

# Offline HTML report per dataset: reports/<D>.html from metrics/<D>/ and dvclive/<D>/ (no network
# needed to view it). Default: every dataset in params.yaml; choose with DATASETS="synthetic ...".
report: $(STAMP)
	$(BIN)/python -m seginterp.report $(foreach d,$(DATASETS),--dataset $(d))

# README's results block from the outputs recorded in dvc.lock (after `make repro` or `dvc pull`);
# tests/report/test_readme.py fails when README and dvc.lock disagree.
readme: $(STAMP)
	$(BIN)/python -m seginterp.report.readme

# The architecture comparison: one DVC experiment `arch-<name>` per architecture that the
# dataset's config can explain (the refused ones are listed with their reason), run from the queue
# one at a time, then comparisons/<D>-architectures.json and README's table from `dvc exp show`.
COMPARE_DATASET ?= synthetic
compare: $(STAMP)
	set -e; export PATH="$(abspath $(BIN)):$$PATH"; \
	for a in $$(python -m seginterp.report.architectures runnable --dataset $(COMPARE_DATASET)); do \
	  dvc exp run --queue --force --name arch-$$a -S ++$(COMPARE_DATASET).model.architecture=$$a; \
	done; \
	dvc exp run --run-all --jobs 1; \
	python -m seginterp.report.architectures collect --dataset $(COMPARE_DATASET)

# README's architecture table again from the committed comparisons/<D>-architectures.json.
compare-table: $(STAMP)
	$(BIN)/python -m seginterp.report.architectures readme --dataset $(COMPARE_DATASET)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest

test-fast: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean-venv:
	rm -rf $(VENV)
