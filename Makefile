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

# The main job: validate the example playbooks, then the dry run of their plan over examples/.
demo: $(STAMP)
	$(BIN)/huitou validate
	$(BIN)/huitou plan --as-of 2026-11-01 --horizon 14d

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/validate.py --write
	$(BIN)/python benchmarks/evaluate.py --write
	$(BIN)/python benchmarks/plan.py --write
	$(BIN)/python benchmarks/send.py --write

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
