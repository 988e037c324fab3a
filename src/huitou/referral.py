"""Referral (转介绍): a code and a link per customer, signed, so the shop can credit the
referrer; the orders placed with a customer's code are a feature of that customer.

A code is `R` and 10 hexadecimal digits of a keyed hash of the customer id under the
shop's secret (huitou.yaml `referral.secret_env`):
sha256(secret ":" sha256(secret ":" customer_id)), the inner hash keeping the outer one
from being extended. Without the secret nobody can make a customer's code or find whose
a code is; with it, the same customer always has the same code (keep the secret). The
same construction runs in SQL (the features) and in Python (`huitou referral CODE`).

Orders carry the code they were placed with in the canonical column `referral_code`
(map yours with data.orders.columns); `referred_orders` counts a customer's code on
other customers' paid orders up to the as-of date.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlglot import exp

from .data.sources import DataError
from .db import create_temp, date_literal, tree
from .i18n import _
from .redact import secret_env
from .relation import Loaded, Relation

REFERRALS = "customer_referrals"  # the relation the features join: a temporary table of the session
DIGITS = 10


def configured(config: dict[str, Any]) -> bool:
    return bool(config.get("referral"))


def secret(config: dict[str, Any]) -> str:
    """The signing secret from the environment; DataError when it is not set."""
    name = str((config.get("referral") or {}).get("secret_env", ""))
    value = (secret_env(name) or "") if name else ""
    if not value:
        said = _(
            "referral.secret_env: the environment variable {name} is not set; referral codes are signed with it "
            "(export the same secret every day: a customer's code must stay theirs)",
            name=name or _("(none named)"),
        )
        raise DataError(said)
    return value


def code(key: str, customer_id: str) -> str:
    """
    >>> code("s3cret", "0000014")
    'R7CD6920E62'
    """
    inner = hashlib.sha256(f"{key}:{customer_id}".encode()).hexdigest()
    return "R" + hashlib.sha256(f"{key}:{inner}".encode()).hexdigest()[:DIGITS].upper()


def link(base_url: str, referral_code: str) -> str:
    return f"{base_url}{'&' if '?' in base_url else '?'}code={referral_code}"


# Each customer's code and link, and the paid orders others placed with the code.
_REFERRALS = """
    WITH codes AS (
        SELECT customer_id, 'R' || upper(left(sha256(:key || ':' || sha256(:key || ':' || customer_id)), :digits)) AS referral_code FROM :customers)
    SELECT c.customer_id, c.referral_code,
           CASE WHEN :url <> '' THEN :url || CASE WHEN contains(:url, '?') THEN '&' ELSE '?' END || 'code=' || c.referral_code END AS referral_url,
           count(o.customer_id) AS referred_orders
    FROM codes c
    LEFT JOIN :orders AS o ON o.referral_code = c.referral_code AND o.status = 'paid' AND o.local_date <= :as_of AND o.customer_id <> c.customer_id
    GROUP BY c.customer_id, c.referral_code"""


def referrals(data: Loaded, config: dict[str, Any], as_of: dt.date) -> exp.Expr:
    """CREATE the per-customer relation (customer_id, referral_code, referral_url,
    referred_orders) of the loaded customers and orders, and return the table."""
    settings = config.get("referral") or {}
    query = tree(
        _REFERRALS,
        key=exp.Literal.string(secret(config)),
        digits=exp.Literal.number(DIGITS),
        url=exp.Literal.string(str(settings.get("url", ""))),
        as_of=date_literal(as_of),
        customers=data.customers.table,
        orders=data.orders.table,
    )
    return create_temp(data.con, REFERRALS, query)


def whose(customers: Relation, config: dict[str, Any], referral_code: str) -> str | None:
    """The one of the loaded `customers` whose code this is (None: no customer of this shop has it)."""
    key = secret(config)
    wanted = referral_code.strip().upper()
    query = tree(
        "SELECT customer_id FROM :customers WHERE 'R' || upper(left(sha256(:key || ':' || sha256(:key || ':' || customer_id)), :digits)) = :code",
        key=exp.Literal.string(key),
        digits=exp.Literal.number(DIGITS),
        code=exp.Literal.string(wanted),
        customers=customers.table,
    )
    rows = customers.con.execute(query.sql("duckdb")).fetchall()
    return rows[0][0] if rows else None
