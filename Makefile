# Quickstart targets. `make repro` sets up .venv and runs the pipeline; `make test` runs the test suite.
VENV ?= .venv
PYTHON ?= python3
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup repro test bench clean-venv

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

repro: setup
	dvc repro

test: setup
	pytest

bench: setup
	python bench/bench_prepare.py

clean-venv:
	rm -rf $(VENV)
