# printprep: the two commands the README promises.
#   make run   set up and start the service on its embedded defaults
#   make test  set up everything (Python packages, Debian tools, OctoPrint) and run the suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup warm-up system-deps run test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# compile the numba kernels (cached in __pycache__) after installing or when a module using
# numba changed, so the first job does not wait for the compiler
warm-up: $(VENV)/.warm

$(VENV)/.warm: $(VENV)/.installed $(shell grep -rl numba printprep --include='*.py')
	$(VENV)/bin/printprep warm-up --fresh
	touch $@

system-deps:
	./scripts/install-system-deps

run: setup warm-up
	$(VENV)/bin/printprep serve

test: setup system-deps warm-up
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: setup
	$(PY) -m ruff check .

bench: setup
	for b in bench/*_bench.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache tests/artifacts
