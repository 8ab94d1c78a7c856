# appctl: `make run` shows the whole flow on the embedded default, `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
APPCTL := $(VENV)/bin/appctl
# Test processes: each test file stays in one process. Most tests wait on subprocesses, workers and
# services rather than compute, so three processes on the 2-core machines we run on finish the suite
# in well under ten minutes where two took 10:46 on an idle machine.
TEST_WORKERS ?= 3

.PHONY: install run worker test bench lint clean

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

test: install
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
