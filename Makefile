# Anomalous sound detection study: `make help` lists the targets.
# Every target creates or reuses .venv and installs what is missing first.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA ?= data/synthetic
SIZE ?= default
PYTEST_ARGS ?=
TEST_WORKERS ?= 2
PDF ?= 1

.DEFAULT_GOAL := help
.PHONY: help setup system-deps test report data bench bench-scale eval-real learning-curve clean clean-all

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-15s %s\n", $$1, $$2}'
	@echo "  variables: DATA=$(DATA) (dataset root for 'make report'; other than data/synthetic it builds reports/<data-name>/),"
	@echo "             PDF=$(PDF) (PDF=0: 'make report' writes the HTML only and needs no Chromium), SIZE, PYTEST_ARGS, TEST_WORKERS=$(TEST_WORKERS) (pytest-xdist processes)"

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP) system-deps ## create .venv, install Python dependencies and (root/sudo) Chromium for the PDF

system-deps: ## install the Debian packages PDF export needs (Chromium), if missing; needs root or sudo
	@bash scripts/install_system_deps.sh

test: $(STAMP) ## run the test suite (unit tests + end-to-end runs on tiny data); no root needed, no Chromium installed
	$(PY) -m pytest -n $(TEST_WORKERS) --durations=15 $(PYTEST_ARGS)

lint: $(STAMP) ## ruff: lint and format check (make test runs them too, in tests/test_codebase.py)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP) ## ruff: fix what can be fixed and format the code
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

data: $(STAMP) ## generate the embedded synthetic dataset into DATA (skipped if complete)
	$(VENV)/bin/asd generate --out $(DATA) --size $(SIZE)

report: $(STAMP) $(if $(filter 0,$(PDF)),,system-deps) ## run the study (notebooks 01-04) on DATA, export report.html (+ .pdf unless PDF=0)
	$(PY) -m asd.report --data $(DATA) $(if $(filter 0,$(PDF)),--no-pdf,)

bench: setup ## print the speed and memory benchmark table
	$(PY) benchmarks/run_benchmarks.py

bench-scale: $(STAMP) ## throughput of train + evaluate in process and on 1 and 2 local Dask workers (docs/scaling.md)
	$(PY) benchmarks/bench_scale.py $(SCALE_ARGS)

eval-real: $(STAMP) ## every detector on every data set present, judged by its worst case (EVAL_ARGS=--quick: 2 epochs)
	$(PY) benchmarks/eval_real.py $(EVAL_ARGS)

learning-curve: $(STAMP) ## mean AUC against the normal training clips per machine, on every set with training clips (CURVE_ARGS)
	$(PY) benchmarks/learning_curve.py $(CURVE_ARGS)

clean: ## remove runs, results and the feature cache (keeps data and .venv)
	rm -rf runs cache results report/executed

clean-all: clean ## also remove generated data and .venv
	rm -rf data $(VENV)
