"""Evaluate playbooks over the data: the feature table, segment counts, and explain.

Everything is SQL on DuckDB: one query computes the features and counts every segment,
rule and lifecycle stage of every playbook (no Python loop over customers).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
import sqlglot.expressions as exp

from . import associations, referral
from .checks.context import PlaybookContext
from .compile import compile_playbook
from .data import consent, load, raw
from .data.identity import ContactReport, Identity, normalise_contacts
from .data.profile import BOOLEAN_PROFILE, profile_types
from .data.sources import ENGINE_TABLE, DataError, Source, data_files, resolve
from .db import connect, copy_out, create_temp, first_row, run, scalar, scratch_dir, select_tree, statement
from .feature_sql import DEFAULT_LIFECYCLE, EPOCH, feature_query, lifecycle_sql, portable_summary, purchase_days_sql, summary_sql
from .features import CATALOG, LIFECYCLE_STAGES
from .i18n import N_, _
from .predicates import PredicateError, to_sql
from .predicates.ast import And, Expr, Not, Or, walk
from .project import Project


@dataclass
class DataSession:
    """An open DuckDB connection holding the loaded `orders` and `customers`."""

    con: duckdb.DuckDBPyConnection
    as_of: dt.date
    timezone: str
    extra_fields: dict[str, str]
    reports: list[load.LoadReport] = field(default_factory=list)

    # Fit the purchase models (p_alive, expected_*_90d) when the features are built: set by
    # the commands whose playbooks or output use them: the features named
    # (forecast.forecast_named; empty: no fit).
    forecast_wanted: frozenset[str] = frozenset()
    forecast: Any = None  # forecast.fit.Forecast, once fitted
    _inputs: dict[str, Any] = field(default_factory=dict, init=False, repr=False)  # feature_query's inputs computed here
    project: Project | None = None  # for what huitou.yaml adds to the features (associations)
    # The engine the features are computed on (engines.Engine), None for this DuckDB
    # connection itself: huitou.yaml's engine, or --engine (docs/engines.md).
    engine: Any = None
    absent: frozenset[str] = frozenset()  # standard profile columns the data does not have (no consent_sms: no SMS consent)

    _engine_orders: exp.Table | None = field(default=None, init=False, repr=False)  # the orders on the engine (features_on)
    _features: exp.Select | None = field(default=None, init=False, repr=False)
    _local_query: exp.Select | None = field(default=None, init=False, repr=False)
    _on_engine: exp.Table | None = field(default=None, init=False, repr=False)

    @functools.cached_property
    def data(self) -> load.Loaded:
        """The loaded tables, as relations of this session's DuckDB."""
        return load.loaded(self.con)

    def features(self) -> exp.Select:
        """The feature query, built once per session (the lifecycle column uses the default
        thresholds; playbooks with their own replace it in their predicates). On another
        engine: the features computed there, brought back as the table `engine_features`."""
        if self._features is None:
            if self.engine is None:
                self._features = self.local_features()
            else:
                types = self.feature_types()
                self.engine_step(
                    N_("computing the features"),
                    lambda: self.engine.bring(
                        sqlglot.select(*[exp.column(c, quoted=True) for c in types]).from_(self.features_on_engine()),
                        self.con,
                        ENGINE_FEATURES,
                        types,
                    ),
                )
                self._features = exp.select("*").from_(ENGINE_FEATURES)
        return self._features

    def features_of(self, *columns: exp.Expr) -> exp.Select:
        """SELECT * (and `columns`) FROM the features, for a query to add to."""
        return exp.select("*", *columns).from_(self.features().subquery("features"))

    def local_features(self) -> exp.Select:
        """The feature query over this DuckDB's tables (with the purchase models' scores,
        recommendations and referral codes computed here when the project uses them)."""
        if self._local_query is None:
            scores = recommendations = codes = None
            if self.forecast_wanted:
                from .forecast import needs_spend
                from .forecast.fit import fit, score

                self.forecast = fit(self.data.orders, self.as_of, spend=needs_spend(self.forecast_wanted))
                scores = score(self.con, self.forecast)
            if self.project is not None and associations.configured(self.project.config):
                recommendations = associations.recommend(self.data, self.project.config, self.project.root, self.as_of)
            if self.project is not None and referral.configured(self.project.config):
                codes = referral.referrals(self.data, self.project.config, self.as_of)
            self._inputs = {"forecast": scores, "recommendations": recommendations, "referrals": codes}
            self._local_query = feature_query(self.as_of, self.extra_fields, **self._inputs)
        return self._local_query

    def hold_features(self) -> None:
        """Compute the features once into a table of this DuckDB, for a command that plans
        more than once over them (huitou diff); on another engine they are a table there
        already (features_on_engine)."""
        if self.engine is None:
            create_temp(self.con, HELD_FEATURES, self.local_features())
            self._local_query = exp.select("*").from_(HELD_FEATURES)

    def feature_types(self) -> dict[str, str]:
        """The feature columns and their DuckDB types (what every engine's rows come back as)."""
        described = statement("DESCRIBE SELECT 1", "duckdb", query=self.local_features().copy())  # placed: the session keeps its own
        return {str(row[0]): str(row[1]) for row in self.con.execute(described).fetchall()}

    def features_on_engine(self) -> exp.Table:
        """The feature table on the session's engine, computed there once and kept (the
        plan's candidates are computed beside it)."""
        if self._on_engine is None:
            self.local_features()
            self._on_engine = self.engine_step(N_("computing the features"), lambda: features_on(self.engine, self, **self._inputs))
        return self._on_engine

    def plan_features(self) -> tuple[Any, exp.Select, exp.Table]:
        """Where the plan's first stages run, the features there and the orders there: this
        DuckDB, the feature query and the loaded orders, or the session's engine, a query
        of its feature table and the orders brought to it."""
        if self.engine is None:
            from .engines.duckdb_engine import DuckDBEngine

            return DuckDBEngine(self.con, owned=False), self.local_features(), self.data.orders.table
        features = exp.select("*").from_(self.features_on_engine())
        assert self._engine_orders is not None, "features_on brings the orders"
        return self.engine, features, self._engine_orders

    def engine_step(self, what: str, step: Any) -> Any:
        """step() on the engine; the driver's own errors (a lost connection, a full disk, a
        timeout) as one line (EngineError)."""
        from .engines import EngineError

        try:
            return step()
        except self.engine.errors as exc:
            reason = " ".join(str(exc).split())[:300] or type(exc).__name__
            if "OutOfMemoryError" in reason:  # the JVM's: the driver holds what huitou hands over
                said = _(
                    "engine {kind}: ran out of memory {what} ({reason}): give the driver more, e.g. huitou.yaml engine: {{conf: {{spark.driver.memory: 8g}}}}",
                    kind=self.engine.kind,
                    what=_(what),
                    reason=reason[:160],
                )
                raise EngineError(said) from None
            said = _("engine {kind}: {what} failed: {reason} (check the server, then run again)", kind=self.engine.kind, what=_(what), reason=reason)
            raise EngineError(said) from None


ENGINE_FEATURES = "engine_features"  # the local copy of the features another engine computed
HELD_FEATURES = "held_features"  # the features computed once (DataSession.hold_features)
NO_PURCHASE = "no purchase"  # the lifecycle row of customers with no purchase (stage NULL)
STALE_DAYS = 30  # a newest purchase older than this before the as-of date gets a hint


def today_in(timezone: str) -> dt.date:
    return dt.datetime.now(zoneinfo.ZoneInfo(timezone)).date()


def data_timezone(project: Project, playbooks: list[PlaybookContext], flag: str | None) -> str:
    """--timezone, else the playbooks' common timezone, else huitou.yaml's, else Asia/Shanghai."""
    if flag:
        return flag
    zones = sorted({str(p.data.get("timezone", "Asia/Shanghai")) for p in playbooks})
    if len(zones) > 1:
        raise DataError(_("the playbooks use different timezones ({zones}); evaluate them separately or pass --timezone", zones=", ".join(zones)))
    if zones:
        return zones[0]
    return str(project.config.get("timezone", "Asia/Shanghai"))


# DuckDB takes up to 80% of the machine by default, most of it working memory it can do
# without: the 1M-customer plan peaked at 5-6.5 GB on a 24 GB machine. The default: a
# tenth of the memory, at least 2 GiB, never more than DuckDB's own 80% (docs/engines.md):
# 2.7 GB there, 9% slower, once the plan's stage tables went as soon as nothing read them
# (before that, 19% slower: DuckDB spilled the tables it held).
MEMORY_SHARE, MEMORY_FLOOR = 0.10, 2 * 1024**3


def machine_memory() -> int | None:
    """Bytes of memory this process may use: the machine's, or its cgroup's limit when lower."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            total = min(total, int(limit))
    except OSError:
        pass
    return total


def default_memory_limit() -> str | None:
    """DuckDB's memory_limit when --memory-limit is not given (None: DuckDB's own default).

    >>> default_memory_limit() is None or default_memory_limit().endswith("MiB")
    True
    """
    total = machine_memory()
    if total is None:
        return None
    limit = min(max(int(total * MEMORY_SHARE), MEMORY_FLOOR), int(total * 0.8))
    return f"{limit // 1024**2}MiB"


def _connect(memory_limit: str | None, files: list[Path]) -> duckdb.DuckDBPyConnection:
    """The session's DuckDB, confined to the data files (db.connect), memory capped."""
    if not memory_limit:
        return connect(files)
    if not re.fullmatch(r"\s*\d+(\.\d+)?\s*([KMGT]i?B|B)\s*", memory_limit, flags=re.IGNORECASE):
        # DuckDB would read '-5GB' as no limit at all.
        raise DataError(_("--memory-limit {value}: not a size (give a size such as 2GB or 512MB)", value=repr(memory_limit)))
    # An in-memory database spills to its temp directory: keep it out of the project.
    try:
        return connect(files, memory_limit=memory_limit, temp_directory=str(scratch_dir("spill")))
    except duckdb.Error as exc:
        raise DataError(
            _("--memory-limit {value}: {reason} (give a size such as 2GB or 512MB)", value=repr(memory_limit), reason=str(exc).splitlines()[0])
        ) from None


def open_data(
    project: Project,
    *,
    timezone: str,
    as_of: dt.date | None = None,
    data_dir: Path | None = None,
    orders: Path | None = None,
    customers: Path | None = None,
    quarantine_dir: Path | None = None,
    today: dt.date | None = None,
    memory_limit: str | None = None,
    engine: Any = None,
    inputs: list[Path] | None = None,
) -> DataSession:
    """`today` (default: the real one) bounds order dates: a later one is rejected.
    `memory_limit` caps DuckDB's memory (it spills to a temporary directory beyond).
    `engine` (engines.Engine, None for this DuckDB) computes the features; sources that
    are its tables are brought into the session to be checked like files. `inputs`: files
    the plan reads in place of huitou.yaml's history and opt-out files (huitou test)."""
    kind = engine.kind if engine is not None else "duckdb"
    orders_source, customers_source = resolve(project.config, project.root, data_dir=data_dir, orders=orders, customers=customers, engine_kind=kind)
    today = today or today_in(timezone)
    as_of = as_of or today
    con = _connect(
        memory_limit or default_memory_limit(),
        [s.path for s in (orders_source, customers_source) if s is not None and s.format != ENGINE_TABLE]
        + data_files(project.config, project.root)
        + [p.resolve() for p in inputs or []],
    )
    if customers_source is not None and orders_source.fields:
        raise DataError(
            _(
                "data.orders.fields: profile columns are read from the orders only when there is no customers file; declare them under data.customers.fields"
            )
        )
    extra = extra_fields(orders_source, customers_source)
    for source in (orders_source, customers_source):
        if source is not None and source.format == ENGINE_TABLE:
            engine.bring_table(str(source.table), con, raw.engine_raw(source), f"data.{source.name}.table")
    reports = []
    identity, contacts = Identity.from_config(project.config), ContactReport()
    if customers_source is not None:
        reports.append(load.load_customers(con, customers_source, identity, contacts))
        normalise_contacts(con, identity, contacts)
    known = customers_source is not None
    orders_report = load.load_orders(con, orders_source, timezone=timezone, today=today, known_customers=known, identity=identity, contacts=contacts)
    con.execute(summary_sql(as_of, _purchase_days(con, as_of, known)))
    if not known:
        run(con, load.customers_from_orders(as_of, orders_source.fields))
        normalise_contacts(con, identity, contacts)
    load.summary_report(con, orders_report, known_customers=known)
    (reports[0] if known else orders_report).hints[:0] = contacts.lines()
    newest = scalar(con, "SELECT max(last_order_date) FROM order_summary")
    if newest is not None and (as_of - newest).days > STALE_DAYS:
        orders_report.hints.append(
            _(
                "the newest purchase is from {newest}, {days:,} days before the as-of date {as_of}: to evaluate the data as of its end, pass --as-of {newest}",
                newest=newest,
                days=(as_of - newest).days,
                as_of=as_of,
            )
        )
    reports.append(orders_report)
    absent = reports[0].absent if known else [c for c in BOOLEAN_PROFILE if c not in orders_source.fields]
    line = consent.absent_line(consent.consent_columns(project.config), absent, (customers_source or orders_source).label, not known)
    if line:
        reports[0].hints.append(line)
    quarantine_dir = quarantine_dir or project.root / ".huitou" / "quarantine"
    for rep in reports:
        load.write_quarantine(con, rep, quarantine_dir)
    return DataSession(con, as_of, timezone, extra, reports, project=project, engine=engine, absent=frozenset(absent))


def extra_fields(orders: Source, customers: Source | None) -> dict[str, str]:
    """The profile fields huitou.yaml declares beyond the standard ones, with their types:
    feature columns of their own (from the customers source, else from the orders)."""
    standard = profile_types({})
    declared = (customers or orders).fields
    for name in declared:
        if name in CATALOG and name not in standard:
            raise DataError(
                _(
                    "data.{source}.fields.{name}: huitou computes `{name}` itself (docs/features.md); "
                    "name your column otherwise, e.g. fields: {{{name}_given: ...}} with columns: {{{name}_given: <your column>}}",
                    source="customers" if customers else "orders",
                    name=name,
                )
            )
    return {n: t for n, t in declared.items() if n not in standard}


def engine_sql(
    config: dict[str, Any], root: Path, as_of: dt.date, dialect: str, playbooks: Sequence[PlaybookContext] = (), horizon: int = 14
) -> list[tuple[str, str]]:
    """What a plan runs on an engine of `dialect` (docs/engines.md), as (what, SQL) pairs:
    the order aggregates, the feature query and, for the playbooks, the plan's stages as
    a plan with opt-outs and a send ledger runs them (build.plan_trees); through the engine's rewrites when
    the dialect is one of huitou's engines (huitou compile)."""
    from .engines import KINDS, portable
    from .plan.build import plan_trees

    orders, customers = resolve(config, root, engine_kind=None, must_exist=False)
    features = feature_query(as_of, extra_fields(orders, customers))
    loaded = load.loaded(None)  # the tables' names, on no connection: the engine's copies have them
    trees: list[tuple[str, exp.Expr]] = [
        ("order_summary: the per-customer aggregates over the checked orders", portable_summary(as_of, loaded.orders.table)),
        ("features: one row a customer, from customers and order_summary", features),
    ]
    if playbooks:
        trees += plan_trees(list(playbooks), exp.select("*").from_(exp.to_table("features")), loaded.orders.table, as_of, horizon)
    return [(what, (portable.rewrite(tree, dialect) if dialect in KINDS else tree).sql(dialect, pretty=True)) for what, tree in trees]


def features_on(engine: Any, session: DataSession, **inputs: exp.Expr | None) -> exp.Table:
    """The feature table computed on `engine` (engines.Engine) from the session's data:
    the orders and customers huitou loaded and checked are brought in, and the aggregates
    (feature_sql.portable_summary) and the features run there, through the engine's
    rewrites. `inputs` are feature_query's forecast, recommendations and referrals:
    relations of the session's DuckDB (per-customer results huitou computed there), each
    brought in under its own name. Equal to the DuckDB features cell for cell
    (tests/test_engines.py)."""
    # The orders of known customers only: the features start from the customers, and an
    # unknown customer's id may hold what the engine cannot (a NUL byte, rejected with
    # its customer in the customers file).
    orders = engine.take_local("orders", session.con, select_tree("SELECT * FROM orders WHERE customer_id IN (SELECT customer_id FROM customers)"))
    session._engine_orders = orders
    engine.take_local("customers", session.con, exp.select("*").from_("customers"))
    given: dict[str, Any] = {}
    for key, relation in inputs.items():
        if relation is not None:
            table = relation.find(exp.Table)
            assert table is not None, key
            engine.take_local(table.name, session.con, sqlglot.select("*").from_(table.copy()))
            given[key] = relation
    summary = engine.temp("order_summary", portable_summary(session.as_of, orders))
    features = engine.temp("features", feature_query(session.as_of, session.extra_fields, **given))
    engine.drop(summary)
    return features


def _purchase_days(con: duckdb.DuckDBPyConnection, as_of: dt.date, known_customers: bool) -> str:
    """The purchase_days aggregate for this data: see feature_sql.purchase_days_sql."""
    lo, hi = first_row(con, "SELECT lo, hi FROM order_date_bounds") or (None, None)
    if lo is None or lo > as_of:
        return purchase_days_sql(None, 0)
    # Bitmaps exist per customer; without a customers file, the orders bound their number.
    count = scalar(con, "SELECT count(*) FROM customers" if known_customers else "SELECT count(*) FROM raw_orders")
    return purchase_days_sql(((lo - EPOCH).days, (min(hi, as_of) - EPOCH).days), int(count))


def write_features(session: DataSession, out: Path) -> int:
    """Write the feature table (CSV or Parquet by extension), ordered by customer_id."""
    fmt = {".parquet": "PARQUET", ".pq": "PARQUET", ".csv": "CSV"}.get(out.suffix.lower())
    if fmt is None:
        raise DataError(_("--out {file}: use a .csv or .parquet file name", file=out))
    out.parent.mkdir(parents=True, exist_ok=True)
    return copy_out(session.con, session.features_of().order_by("customer_id"), out, "FORMAT PARQUET" if fmt == "PARQUET" else "FORMAT CSV, HEADER")


@dataclass(frozen=True)
class Count:
    playbook: str  # "" for project-wide lifecycle stages
    kind: str  # lifecycle | segment | rule
    name: str
    customers: int


def lifecycle_override(ctx: PlaybookContext) -> dict[str, exp.Expr]:
    """The playbook's own lifecycle thresholds, as the `lifecycle` feature its segments
    compile against (none: the project's)."""
    thresholds = ctx.data.get("lifecycle")
    return {"lifecycle": lifecycle_sql(thresholds)} if thresholds else {}


def segment_counts(session: DataSession, playbooks: list[PlaybookContext]) -> tuple[int, list[Count]]:
    """Customers in every lifecycle stage, segment and rule segment: one query."""
    labels, query = segment_query(playbooks, session.features().subquery("features"))
    row = first_row(session.con, query.sql("duckdb"))
    assert row is not None
    return int(row[0]), [Count(p, k, n, int(c)) for (p, k, n), c in zip(labels, row[1:])]


def segment_counts_on(engine: Any, features: exp.Expr, playbooks: list[PlaybookContext]) -> tuple[int, list[Count]]:
    """segment_counts over a feature relation of another engine (features_on)."""
    labels, query = segment_query(playbooks, features)
    row = engine.rows(query)[0]
    return int(row[0]), [Count(p, k, n, int(c)) for (p, k, n), c in zip(labels, row[1:])]


def segment_query(playbooks: list[PlaybookContext], features: exp.Expr) -> tuple[list[tuple[str, str, str]], exp.Select]:
    """What segment_counts counts (playbook, kind, name) and the query counting them over
    the relation `features`: the number of customers first, then one count per label."""
    labels: list[tuple[str, str, str]] = []
    columns: list[exp.Expr] = []
    threshold_sets = {"": DEFAULT_LIFECYCLE}
    for ctx in playbooks:
        if ctx.data.get("lifecycle"):
            threshold_sets[ctx.name] = {**DEFAULT_LIFECYCLE, **ctx.data["lifecycle"]}

    def count_where(condition: exp.Expr) -> exp.Expr:
        return exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=condition))

    # Each stage column is computed once per customer, then compared per stage name.
    stages = [exp.alias_(lifecycle_sql(thresholds), f"_stage_{i}") for i, thresholds in enumerate(threshold_sets.values())]
    for i, owner in enumerate(threshold_sets):
        stage = exp.column(f"_stage_{i}")
        for name in LIFECYCLE_STAGES:
            labels.append((owner, "lifecycle", name))
            columns.append(count_where(exp.EQ(this=stage.copy(), expression=exp.Literal.string(name))))
        # Customers without a purchase have no stage: counted, so the stages add up.
        labels.append((owner, "lifecycle", NO_PURCHASE))
        columns.append(count_where(exp.Is(this=stage.copy(), expression=exp.Null())))
    for ctx in playbooks:
        for item in compile_playbook(ctx, lifecycle_override(ctx)):
            labels.append((ctx.name, item.kind, item.name))
            columns.append(count_where(item.sql.copy()))
    staged = exp.select(exp.Star(), *stages).from_(features.copy())
    return labels, exp.select(exp.Count(this=exp.Star()), *columns).from_(staged.subquery("features"))


@dataclass
class Node:
    """One condition of a predicate, with its value for the customer (None: unknown)."""

    text: str
    value: bool | None
    children: list[Node] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"condition": self.text, "value": self.value}
        if self.children:
            out["children"] = [c.as_dict() for c in self.children]
        return out


@dataclass
class Explained:
    playbook: str
    kind: str  # segment | rule
    name: str
    tree: Node | None
    error: str = ""


def _json_value(value: object) -> object:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def explain(session: DataSession, customer_id: str, playbooks: list[PlaybookContext]) -> tuple[dict[str, object], list[Explained]] | None:
    """The customer's features, and every segment and rule of every playbook with the value
    of each sub-clause - one query; None when the customer is not in the data."""
    pending: list[tuple[Explained, str, Expr, list[tuple[Node, Expr]]]] = []
    columns: list[exp.Expr] = []
    for ctx in playbooks:
        overrides = lifecycle_override(ctx)
        compiled = {c.name: c.sql for c in compile_playbook(ctx, overrides) if c.kind == "segment"}
        items = [("segment", name, pred) for name, pred in ctx.segments.items()]
        items += [("rule", str(rule["id"]), pred) for rule, pred in zip(ctx.rules, ctx.rule_segments)]
        for kind, name, pred in items:
            if isinstance(pred.tree, PredicateError):
                continue
            record = Explained(ctx.name, kind, name, None)
            nodes: list[tuple[Node, Expr]] = []
            for cond in walk(pred.tree):
                nodes.append((Node(" ".join(pred.text[cond.start : cond.end].split()), None), cond))
                columns.append(exp.paren(to_sql(cond, compiled, catalog=ctx.project.catalog, columns=overrides)))
            pending.append((record, pred.text, pred.tree, nodes))
    cursor = run(session.con, session.features_of(*columns).where("customer_id = ?"), [customer_id])
    description, rows = cursor.description, cursor.fetchall()
    if not rows:
        return None
    row = rows[0]
    width = len(description) - len(columns)
    features = {d[0]: _json_value(v) for d, v in zip(description[:width], row[:width])}
    values = iter(row[width:])
    out = []
    for record, _text, parsed, nodes in pending:
        by_id = {}
        for node, cond in nodes:
            node.value = next(values)
            by_id[id(cond)] = node
        for node, cond in nodes:
            if isinstance(cond, (And, Or)):
                node.children = [by_id[id(c)] for c in cond.items]
            elif isinstance(cond, Not):
                node.children = [by_id[id(cond.item)]]
        record.tree = by_id[id(parsed)]
        out.append(record)
    return features, out
