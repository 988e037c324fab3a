"""The engines huitou runs its SQL on (docs/engines.md): DuckDB embedded by default,
Spark and PostgreSQL where a shop keeps its data.

>>> sorted(KINDS)
['duckdb', 'postgres', 'spark']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..i18n import _
from .base import Engine, EngineError

KINDS = ("duckdb", "spark", "postgres")


def open_engine(config: Mapping[str, Any] | None, kind: str | None = None) -> Engine:
    """The engine huitou.yaml's `engine:` names (`config`), or `kind` (--engine) when
    given: with --engine, the settings of huitou.yaml's engine apply when it is the same kind."""
    config = dict(config or {"kind": "duckdb"})
    kind = kind or str(config.get("kind", "duckdb"))
    settings = config if config.get("kind", "duckdb") == kind else {}
    if kind == "duckdb":
        from .duckdb_engine import DuckDBEngine

        return DuckDBEngine()
    if kind == "spark":
        from .spark_engine import DEFAULT_MASTER, SparkEngine

        return SparkEngine(str(settings.get("master", DEFAULT_MASTER)), {str(k): str(v) for k, v in dict(settings.get("conf") or {}).items()})
    if kind == "postgres":
        from .postgres_engine import DEFAULT_URL_ENV, PostgresEngine

        return PostgresEngine(str(settings.get("url_env", DEFAULT_URL_ENV)))
    raise EngineError(_("unknown engine {kind}: use one of {kinds}", kind=repr(kind), kinds=", ".join(KINDS)))


__all__ = ["Engine", "EngineError", "KINDS", "open_engine"]
