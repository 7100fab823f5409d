# printprep: the two commands the README promises.
#   make run   set up and start the service on its embedded defaults
#   make test  set up everything (Python packages, Debian tools, OctoPrint) and run the suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup system-deps run test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

system-deps:
	./scripts/install-system-deps

run: setup
	$(VENV)/bin/printprep serve

test: setup system-deps
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: setup
	$(PY) -m ruff check .

bench: setup
	for b in bench/*_bench.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache tests/artifacts
