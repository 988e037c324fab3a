"""Association (关联推荐): what goes with a customer's last purchase.

Where the pairs come from, best first:
- `data.products` in huitou.yaml: a catalog file with the columns `category` (or
  `product`: a SKU or a product's name, when the orders carry line items), `goes_with`
  and (optional) `rank` (mapped like any source: `columns: {goes_with: matches}`); rows
  without a rank keep the file's order;
- or, for shops without one, `associations:` in huitou.yaml: `{down_jacket: [sweater,
  scarf]}`.

Each customer's recommendations are what goes with their last purchase (its category, or
by product: the products of their last purchase day), in rank order, leaving out every
category (product) they have already bought: the features `recommendations` (a list) and
`has_recommendation`. One SQL query over the orders (order_items by product).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
from sqlglot import exp

from .data import raw
from .data.sources import DataError, source_from_config
from .data.values import try_cast
from .db import create_temp, date_literal, quoted, select_tree, tree
from .i18n import _
from .relation import Loaded

RECOMMENDATIONS = "customer_recommendations"  # the scored relation: a temporary table of the session

# Each customer's recommendations from the pairs (:pairs: category, goes_with, rank).
_RECOMMEND = """
    WITH bought AS (
        SELECT customer_id, list(DISTINCT category) AS categories FROM :orders
        WHERE status = 'paid' AND local_date <= :as_of AND category IS NOT NULL GROUP BY customer_id)
    SELECT s.customer_id, list(p.goes_with ORDER BY p.rank, p.goes_with) AS recommendations
    FROM :summary AS s JOIN :pairs ON p.category = s.last_category
    LEFT JOIN bought b ON b.customer_id = s.customer_id
    WHERE NOT list_contains(coalesce(b.categories, []), p.goes_with)
    GROUP BY s.customer_id"""
# The same by product (:pairs: product, goes_with, rank): what goes with any product of
# the last purchase day, each once at its best rank. A product is its SKU, else its name,
# and a pair's product matches either.
_RECOMMEND_PRODUCTS = """
    WITH items AS (
        SELECT i.customer_id, i.local_date, i.sku, i.product FROM :items AS i
        WHERE i.status = 'paid' AND i.local_date <= :as_of),
    bought AS (SELECT customer_id, list(DISTINCT sku) || list(DISTINCT product) AS products FROM items GROUP BY customer_id),
    last AS (SELECT i.customer_id, i.sku, i.product FROM items i JOIN :summary AS s ON s.customer_id = i.customer_id AND i.local_date = s.last_order_date),
    matched AS (
        SELECT l.customer_id, p.goes_with, min(p.rank) AS rank FROM last l JOIN :pairs ON p.product IN (l.sku, l.product)
        LEFT JOIN bought b ON b.customer_id = l.customer_id
        WHERE NOT list_contains(coalesce(b.products, []), p.goes_with)
        GROUP BY l.customer_id, p.goes_with)
    SELECT customer_id, list(goes_with ORDER BY rank, goes_with) AS recommendations FROM matched GROUP BY customer_id"""


def configured(config: dict[str, Any]) -> bool:
    return bool(config.get("associations")) or bool(((config.get("data") or {}).get("products") or {}).get("path"))


def _pairs(con: duckdb.DuckDBPyConnection, config: dict[str, Any], root: Path) -> tuple[exp.Expr, str]:
    """The (category or product, goes_with, rank) pairs as a relation aliased `p`, and
    which of the two they pair."""
    spec = (config.get("data") or {}).get("products") or {}
    if spec.get("path"):
        source = source_from_config("products", spec, root)
        if not source.path.exists():
            raise DataError(_("{what}: {path} does not exist", what="data.products", path=source.path))
        columns = raw.open_raw(con, source)
        by = "product" if source.column("product") in columns and source.column("category") not in columns else "category"
        key, goes_with = (raw.need_column(source, columns, c) for c in (by, "goes_with"))
        rank = try_cast(quoted(source.column("rank")), "DOUBLE") if source.column("rank") in columns else exp.null()
        pairs = select_tree(
            """SELECT trim(CAST(:key AS VARCHAR)) AS :by, trim(CAST(:goes_with AS VARCHAR)) AS goes_with,
                               coalesce(:rank, row_number() OVER ()) AS rank FROM :file""",
            file=raw.raw_table(source),
            key=key,
            by=exp.to_identifier(by),
            goes_with=goes_with,
            rank=rank,
        )
        return exp.alias_(pairs.subquery(), "p", table=True), by
    rows = [
        (exp.Literal.string(str(category)), exp.Literal.string(str(item)), exp.Literal.number(k))
        for category, items in (config.get("associations") or {}).items()
        for k, item in enumerate(items or [])
    ]
    return exp.values(rows, alias="p", columns=["category", "goes_with", "rank"]), "category"


def recommend(data: Loaded, config: dict[str, Any], root: Path, as_of: dt.date) -> exp.Expr:
    """CREATE the per-customer recommendations (customer_id, recommendations) from the
    loaded orders, their items and summary, and return the table."""
    con = data.con
    pairs, by = _pairs(con, config, root)
    tables = {"orders": data.orders.table, "items": data.items.table, "summary": data.summary.table}
    query = tree(_RECOMMEND_PRODUCTS if by == "product" else _RECOMMEND, pairs=pairs, as_of=date_literal(as_of), **tables)
    try:
        return create_temp(con, RECOMMENDATIONS, query)
    except duckdb.Error as exc:
        raise DataError(f"data.products: {str(exc).splitlines()[0]}") from None
