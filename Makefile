# Quick start: `make demo` and `make test`; both set up .venv when it is missing or stale.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Until the planner lands, the demo validates the project and evaluates it over examples/.
demo: $(STAMP)
	$(BIN)/huitou validate
	$(BIN)/huitou segments --as-of 2026-11-01

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/validate.py --write
	$(BIN)/python benchmarks/evaluate.py --write

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
