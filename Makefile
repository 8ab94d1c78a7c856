# appctl: `make run` shows the whole flow on the embedded default, `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
APPCTL := $(VENV)/bin/appctl
# Test processes: each test file stays in one process. Most tests wait on subprocesses, workers and
# services rather than compute, so six processes suit the 2-core machines we run on.
TEST_WORKERS ?= 6
# Bytecode is cached even where the environment sets PYTHONDONTWRITEBYTECODE (this machine does): else
# every appctl process a test starts compiles appctl's modules again, and every test process rewrites
# and compiles every test module again, which an installed appctl (pip compiles a wheel) never does.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install run worker test test-all bench lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

run: install
	APPCTL=$(APPCTL) scripts/demo.sh

worker: install
	$(APPCTL) worker --loglevel=info

# `make test` (what CI runs) leaves out the tests marked slow: services paused and killed, full disks,
# Ctrl-C in the middle, process races; `make test-all` runs them too (about 15 minutes on 2 cores).
# The slowest tests are listed at the end, so a test that grows slow is seen where it grows.
test: install
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not slow" --durations=15

test-all: install
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

bench: install
	$(PY) -m pytest tests/bench -p no:cacheprovider -o addopts="" -o timeout=1800 -q -s
	$(PY) -m tests.bench.report

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
