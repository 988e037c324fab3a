"""Spark: the data stays in the lakehouse; huitou runs Spark SQL through pyspark."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import sqlglot.expressions as exp

from ..db import statement
from ..i18n import _
from .base import Engine, EngineError, python_value

DEFAULT_MASTER = "local[2]"


class SparkEngine(Engine):
    kind = dialect = "spark"

    def __init__(self, master: str = DEFAULT_MASTER, conf: Mapping[str, str] | None = None) -> None:
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise EngineError(_("engine spark needs pyspark, which is not installed: pip install 'huitou[spark]'")) from None
        if master.startswith("local") and not (os.environ.get("JAVA_HOME") or shutil.which("java")):
            said = _(
                "engine spark needs Java, and there is none (no java on PATH, no JAVA_HOME): install a Java 17 or 21 runtime, "
                "e.g. apt-get install openjdk-17-jre-headless"
            )
            raise EngineError(said)
        if master.startswith("local"):
            # Arbitration runs on the workers (map_groups): on a local master they are this
            # interpreter, which has huitou (pyspark's default is whatever python3 is on PATH).
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = SparkSession.builder.master(master).appName("huitou")
        # One answer whatever the machine: UTC session time (huitou converts local times
        # itself), no UI port, few shuffle partitions for a local master.
        # Constraint propagation off: inferring constraints over the plan's rule flags (one
        # aliased predicate per rule, OR-ed) exhausted a 6 GB driver on 300 customers.
        settings = {
            "spark.sql.session.timeZone": "UTC",
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "8",
            "spark.sql.constraintPropagation.enabled": "false",
            "spark.sql.timestampType": "TIMESTAMP_NTZ",
            "spark.ui.showConsoleProgress": "false",
            **local_driver_memory(master),
            **(conf or {}),
        }
        for key, value in settings.items():
            builder = builder.config(key, str(value))
        # The JVM writes its start-up notices and log to the stderr it inherits: give it a
        # file instead, so that huitou's stderr stays huitou's lines (cron mail, CI logs).
        handle, self.log_path = tempfile.mkstemp(prefix="huitou-spark-", suffix=".log")
        # A Python caller's own Spark (a notebook's, a job's) is used and left running:
        # huitou stops only a context it started. (The active session is per thread; the
        # context, which getOrCreate takes, is the process's.)
        from pyspark import SparkContext

        self.owned = getattr(SparkContext, "_active_spark_context", None) is None
        saved = os.dup(2)
        sys.stderr.flush()
        os.dup2(handle, 2)
        try:
            self.spark = builder.getOrCreate()
        except Exception as exc:  # pyspark raises its own runtime errors when the JVM cannot start
            reason = " ".join(str(exc).split())[:300]
            said = _(
                "engine spark: cannot start a session on {master}: {reason} (check Java and the master URL; the JVM's log: {log})",
                master=master,
                reason=reason,
                log=self.log_path,
            )
            raise EngineError(said) from None
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(handle)
        self.spark.sparkContext.setLogLevel("ERROR")
        from py4j.protocol import Py4JError
        from pyspark.errors import PySparkException

        self.errors = (PySparkException, Py4JError)
        # pyspark's own Python loggers print a failed query's whole JVM stack to stderr;
        # huitou says what failed in one line (EngineError).
        for name in ("SQLQueryContextLogger", "pyspark", "py4j"):
            logging.getLogger(name).setLevel(logging.CRITICAL)

    def execute(self, text: str) -> None:
        self.spark.sql(text)

    def fetch(self, text: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        frame = self.spark.sql(text)
        return list(frame.columns), [tuple(row) for row in frame.collect()]

    def fetch_batches(self, text: str) -> Iterator[Any]:
        yield self.spark.sql(text).toArrow()  # the driver collects the result: the features, one row a customer

    def column_types(self, query: exp.Query) -> dict[str, str]:
        return {field.name: field.dataType.simpleString() for field in self.spark.sql(self.sql(query)).schema.fields}

    def create_temp(self, name: str, query: exp.Expr) -> None:
        # Computed now and cut from its lineage, as a table would be on the other engines.
        self.spark.sql(query.sql("spark")).localCheckpoint(eager=True).createOrReplaceTempView(name)

    def take_columns(self, name: str, columns: Mapping[str, Any], types: Mapping[str, str]) -> None:
        import pyarrow

        table = pyarrow.table({c: pyarrow.array([python_value(v) for v in values]) for c, values in columns.items()})
        self._view(name, table, {c: types[c] for c in columns})

    def copy_local(self, name: str, con: Any, query: exp.Query) -> None:
        from .duckdb_engine import arrow_table

        table = arrow_table(con.sql(query.sql("duckdb")))
        self._view(name, table, {row[0]: str(row[1]) for row in con.execute(statement("DESCRIBE SELECT 1", "duckdb", query=query)).fetchall()})

    def _view(self, name: str, table: Any, types: Mapping[str, str]) -> None:
        """An Arrow table as a temporary view, its columns cast to `types` (DuckDB names)."""
        frame = self.spark.createDataFrame(table) if table.num_rows else self.spark.createDataFrame([], _schema(types))
        casts = [
            exp.cast(exp.column(c, quoted=True), exp.DataType.build(t, dialect="duckdb")).as_(c, quoted=True).sql("spark") for c, t in types.items()
        ]
        frame.selectExpr(*casts).localCheckpoint(eager=True).createOrReplaceTempView(name)

    def map_groups(
        self, name: str, relation: exp.Table, key: exp.Expr, fn: Callable[[dict[str, Any]], dict[str, Any]], types: Mapping[str, str]
    ) -> None:
        """The temporary view `name`: `fn` (a picklable function from a group's columns, as
        numpy arrays, to the columns of `types`, DuckDB names) applied by the workers to the
        rows of `relation` in groups of equal `key`."""
        import pyarrow
        from pyspark.sql import functions

        def apply(group: Any) -> Any:
            return pyarrow.table(fn({c: group.column(c).to_numpy() for c in group.column_names}))

        # Spark tells its grouped maps' kinds apart by the function's type hints.
        apply.__annotations__ = {"group": pyarrow.Table, "return": pyarrow.Table}

        schema = _schema(types)
        with warnings.catch_warnings():
            # pyspark checks pandas' version on the way and warns about one it has not
            # caught up with: a notice for pyspark's developers, not a line for the shop.
            warnings.simplefilter("ignore", FutureWarning)
            frame = self.spark.table(relation.name).groupBy(functions.expr(self.sql(key))).applyInArrow(apply, schema)
        try:
            frame.localCheckpoint(eager=True).createOrReplaceTempView(name)
        except self.errors as exc:
            if "Python worker" not in str(exc):
                raise
            # The workers' Python stack ends in what went wrong (huitou not installed there,
            # another Python version): that line, and where the workers' Python is set.
            errors = re.findall(r"\b(\w+(?:Error|Exception): .*?)(?=\s+at |\s+File |$)", " ".join(str(exc).split()))
            cause = (errors[-1] if errors else _("see the JVM's log"))[:200]
            said = _(
                "engine spark: the Python workers could not run huitou ({cause}): install huitou with its spark extra in the "
                "workers' Python and name it with PYSPARK_PYTHON or spark.pyspark.python",
                cause=cause,
            )
            raise EngineError(said) from None

    def drop(self, relation: exp.Table) -> None:
        self.spark.catalog.dropTempView(relation.name)

    def close(self) -> None:
        if self.owned:
            self.spark.stop()
        with contextlib.suppress(OSError):
            os.unlink(self.log_path)


def local_driver_memory(master: str) -> dict[str, str]:
    """A local master runs everything in the driver, whose JVM Spark gives 1 GB: too
    little to take in a million customers' orders. A quarter of the machine's memory, at
    least 2 GiB (engine.conf spark.driver.memory overrides it)."""
    from ..evaluate import machine_memory

    total = machine_memory()
    if not master.startswith("local") or total is None:
        return {}
    return {"spark.driver.memory": f"{max(total // 4, 2 * 1024**3) // 1024**2}m"}


def _schema(types: Mapping[str, str]) -> str:
    """Spark's schema text (`name TYPE, ...`) of columns of these DuckDB types, written by sqlglot."""
    columns = (exp.ColumnDef(this=exp.to_identifier(c, quoted=True), kind=exp.DataType.build(t, dialect="duckdb")) for c, t in types.items())
    return ", ".join(column.sql("spark") for column in columns)
