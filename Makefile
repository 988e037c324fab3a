# Quick start: `make demo` and `make test`; both set up .venv when it is missing or stale.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The main job needs the package alone; the suite adds the test extras (PySpark, the
# PostgreSQL driver, pytest): a fresh clone's `make demo` does not wait for them.
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

# The packages are installed without bytecode (half of pip's time) and each module is
# compiled once, when first imported: that needs Python allowed to write its caches
# (some machines set PYTHONDONTWRITEBYTECODE, and then every command and every test's
# child process compiles huitou and its dependencies again, about a second each).
unexport PYTHONDONTWRITEBYTECODE

LOWEST := .venv-lowest
LOWEST_STAMP := $(LOWEST)/.installed

.PHONY: demo test lint test-lowest bench bench-scale bench-engines clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(TEST_STAMP)

# The example project signs referral codes with this secret (a real shop sets its own).
export HUITOU_REFERRAL_SECRET ?= demo-only-referral-secret

# The main job: validate the example playbooks, then the dry run of their plan over examples/.
demo: $(STAMP)
	$(BIN)/huitou validate
	$(BIN)/huitou plan --as-of 2026-11-01 --horizon 14d --html plan.html
	$(BIN)/huitou report --from 2026-05-01 --to 2026-10-31 --every month

# Two workers, a test file each at a time (a file's fixtures stay on one worker): the
# suite is mostly child processes (the console script, PostgreSQL, Spark), 2 cores here.
PYTEST_WORKERS := -n 2 --dist loadfile

test: $(TEST_STAMP) lint
	$(BIN)/python -m pytest $(PYTEST_WORKERS)

# The code as the house keeps it (pyproject.toml [tool.ruff], [tool.mypy]): lint, the
# formatter's check, and the types of src/.
LINTED := src tests benchmarks tools
lint: $(TEST_STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

# The suite at the lowest versions pyproject.toml declares (CI runs it after `make test`).
$(LOWEST_STAMP): pyproject.toml tools/lowest_bounds.py
	test -x $(LOWEST)/bin/python || $(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install --quiet --upgrade pip
	$(PYTHON) tools/lowest_bounds.py > $(LOWEST)/constraints.txt
	$(LOWEST)/bin/python -m pip install --quiet -c $(LOWEST)/constraints.txt -e '.[test]'
	touch $(LOWEST_STAMP)

test-lowest: $(LOWEST_STAMP)
	$(LOWEST)/bin/python -m pytest -p no:cacheprovider $(PYTEST_WORKERS)

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/validate.py --write
	$(BIN)/python benchmarks/commands.py --write
	$(BIN)/python benchmarks/evaluate.py --write
	$(BIN)/python benchmarks/forecast.py --write
	$(BIN)/python benchmarks/plan.py --write
	$(BIN)/python benchmarks/send.py --write
	$(BIN)/python benchmarks/report.py --write
	$(BIN)/python benchmarks/rules.py --write
	$(BIN)/python benchmarks/exports.py --write

# The plan at 100k, 1M, 5M and 10M customers, checked against the pandas peer on a shard
# at each size, the largest planned twice (makes 4.3 GB of Parquet the first time; about an hour).
bench-scale: $(TEST_STAMP)
	$(BIN)/python benchmarks/scale.py --write

# The 1M-customer plan on DuckDB, Spark local[2] and PostgreSQL (Java and Debian's
# postgresql package needed; see docs/engines.md).
bench-engines: $(TEST_STAMP)
	$(BIN)/python benchmarks/engines.py --write

clean:
	rm -rf $(VENV) $(LOWEST) build src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
