"""Data sources that are tables of the engine, and the engine chosen in huitou.yaml or on
the command line, on real PostgreSQL and Spark (tests/engines.py): the commands run in
this process (on Spark, the session's: huitou uses a Spark it did not start and leaves it
running; a workers' Python without huitou is set on that session's context). In a file
of its own so that the test workers share the engine tests (a file runs on one worker)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from .engines import postgres_url, spark_engine  # noqa: F401  (fixtures: they start the servers or fail in CI)
from .inprocess import Ran, huitou
from .test_engine_plans import edge_project, engines_env, plan_files  # noqa: F401  (engines_env: a fixture)


def test_the_engine_named_in_huitou_yaml_or_on_the_command_line(tmp_path: Path, postgres_url: str) -> None:  # noqa: F811
    """huitou.yaml's engine is used (its url_env read), --engine overrides it, and an engine
    that refuses the connection is one line, exit 2, with nothing written."""
    root = edge_project(tmp_path / "shop")
    config = root / "huitou.yaml"
    config.write_text(config.read_text(encoding="utf-8") + "engine: {kind: postgres, url_env: SHOP_DB}\n", encoding="utf-8")
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}

    def run(*args: str, db: str) -> Ran:
        return huitou(*args, "--as-of", "2026-10-20", cwd=root, env={**env, "SHOP_DB": db})

    on_postgres = run("segments", "-f", "json", db=postgres_url)
    on_duckdb = run("segments", "-f", "json", "--engine", "duckdb", db="host=/nonexistent")
    assert on_postgres.returncode == 0 and on_duckdb.returncode == 0, on_postgres.stderr + on_duckdb.stderr
    assert json.loads(on_postgres.stdout) == json.loads(on_duckdb.stdout) and "edges" in on_postgres.stdout
    before = sorted(root.rglob("*"))
    refused = run("plan", "--out", str(tmp_path / "plan.jsonl"), db="postgresql://huitou:s3cret@127.0.0.1:1/shop?connect_timeout=5")
    assert refused.returncode == 2
    assert refused.stderr.startswith(
        "huitou plan: engine postgres: cannot connect to the database of SHOP_DB (host 127.0.0.1, port 1, dbname shop, user huitou)"
    )
    assert refused.stderr.count("\n") == 1 and "s3cret" not in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "plan.jsonl").exists() and sorted(root.rglob("*")) == before


def _tables_in_postgres(url: str, root: Path) -> None:
    """The edge project's orders and customers as tables of schema `shop`, typed as a shop's
    database would type them (instants with zone, exact money, dates)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        con.execute("DROP SCHEMA IF EXISTS shop CASCADE")
        con.execute("CREATE SCHEMA shop")
        con.execute(
            "CREATE TABLE shop.orders (order_id text, customer_id text, ordered_at timestamptz, amount numeric(18,3), status text, category text, "
            "rating integer, delivered_at date)"
        )
        con.execute(
            "CREATE TABLE shop.customers (customer_id text, name text, birthday date, timezone text, tags text, phone text, consent_sms boolean)"
        )
        for table in ("orders", "customers"):
            # PostgreSQL's text cannot hold a NUL byte: the shop's database has none, nor the
            # customer whose id has one (which the files' checks reject).
            lines = (root / f"{table}.csv").read_bytes().splitlines(keepends=True)
            with con.cursor().copy(f"COPY shop.{table} FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
                copy.write(b"".join(line for line in lines if b"bad\x00id" not in line).replace(b"\x00", b""))


def _with_sources(root: Path, orders: str, customers: str) -> None:
    config = root / "huitou.yaml"
    text = (
        config.read_text(encoding="utf-8")
        .replace("orders: {path: orders.csv}", f"orders: {orders}")
        .replace("customers: {path: customers.csv}", f"customers: {customers}")
    )
    config.write_text(text, encoding="utf-8")


def test_sources_that_are_tables_of_the_engine_plan_as_the_files_do(tmp_path: Path, engines_env: dict[str, str]) -> None:  # noqa: F811
    """The edge project's data as PostgreSQL tables (schema shop) and as Parquet that Spark
    reads by path: the plan file equals the one DuckDB makes from the CSV files, and the
    tables' rows are checked and quarantined as the files' are."""
    import duckdb

    files = edge_project(tmp_path / "files")
    reference = plan_files(files, "2026-10-20", "30d", engines_env, tmp_path / "files", kinds=("duckdb",))["duckdb"]
    _tables_in_postgres(engines_env["HUITOU_PG_URL"], files)
    on_postgres = edge_project(tmp_path / "pg")
    _with_sources(on_postgres, "{table: shop.orders}", "{table: shop.customers}")
    on_spark = edge_project(tmp_path / "spark")
    for table in ("orders", "customers"):
        duckdb.execute(f"COPY (SELECT * FROM read_csv('{files / table}.csv', all_varchar = true)) TO '{on_spark / table}.parquet' (FORMAT parquet)")
    _with_sources(on_spark, f"{{table: 'parquet.`{on_spark / 'orders.parquet'}`'}}", f"{{table: 'parquet.`{on_spark / 'customers.parquet'}`'}}")
    for root, kind in ((on_postgres, "postgres"), (on_spark, "spark")):
        (root / "orders.csv").unlink()
        (root / "customers.csv").unlink()
        out = tmp_path / f"{kind}.jsonl"
        done = huitou("plan", "--engine", kind, "--as-of", "2026-10-20", "--horizon", "30d", "--out", out, cwd=root, env=engines_env)
        assert done.returncode == 0, done.stderr
        assert "rows read from table " in done.stderr
        assert out.read_bytes() == reference, kind
        # The table's rows are checked as a file's are, and the quarantine lists what was repaired.
        quarantine = (root / ".huitou" / "quarantine" / "orders.csv").read_text(encoding="utf-8")
        assert "kept,amount_rounded" in quarantine and "20.005" in quarantine, kind


def test_a_table_source_that_cannot_be_read_is_one_line(tmp_path: Path, engines_env: dict[str, str], spark_engine) -> None:  # noqa: F811
    root = edge_project(tmp_path / "shop")
    _with_sources(root, "{table: shop.no_such_table}", "{path: customers.csv}")

    def plan(*args: str) -> Ran:
        return huitou("plan", *args, "--out", tmp_path / "plan.jsonl", cwd=root, env=engines_env)

    missing = plan("--engine", "postgres")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1, missing.stderr
    assert missing.stderr.startswith("huitou plan: engine postgres: cannot read data.orders.table 'shop.no_such_table': ")
    assert "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    on_spark = plan("--engine", "spark")
    assert on_spark.returncode == 2 and on_spark.stderr.count("\n") == 1, on_spark.stderr
    assert on_spark.stderr.startswith("huitou plan: engine spark: cannot read data.orders.table 'shop.no_such_table': [TABLE_OR_VIEW_NOT_FOUND]")
    # The command ran on this process's Spark, which it did not start: it left it running.
    assert spark_engine.spark.range(3).count() == 3
    on_duckdb = plan()
    assert on_duckdb.returncode == 2 and "without path names a table of the engine, and the engine is the embedded DuckDB" in on_duckdb.stderr
    assert not (tmp_path / "plan.jsonl").exists()


def test_spark_workers_without_huitou_are_one_line(tmp_path: Path, engines_env: dict[str, str], spark_engine, monkeypatch) -> None:  # noqa: F811
    """Arbitration runs in Spark's Python workers: a workers' Python without huitou (here a
    bare venv) stops the plan with one line that says what is missing and where to set the
    workers' Python; no plan file. The session's Spark runs it: a SparkContext reads
    PYSPARK_PYTHON once, into `pythonExec`, which every Python function it ships names as
    its workers' interpreter (a new JVM for this one test cost 20 s)."""
    import sys

    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    monkeypatch.setattr(spark_engine.spark.sparkContext, "pythonExec", str(bare / "bin" / "python"))
    out = tmp_path / "plan.jsonl"
    root = edge_project(tmp_path / "shop")
    done = huitou("plan", "--engine", "spark", "--as-of", "2026-10-20", "--horizon", "30d", "--out", out, cwd=root, env=engines_env)
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert last.startswith("huitou: engine spark: the Python workers could not run huitou (ModuleNotFoundError: No module named "), last
    assert "PYSPARK_PYTHON" in last and not out.exists()
    # huitou did not start this Spark and left it running.
    assert spark_engine.spark.range(3).count() == 3
