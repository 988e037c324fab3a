"""The standard columns of orders and of customer profiles, and their DuckDB types: plain
names and strings, read by `huitou validate` (no DuckDB or sqlglot needed) and by the
loader."""

from __future__ import annotations

# An order's columns huitou reads (a line item's: ITEM_COLUMNS), besides a source's `fields`.
ITEM_COLUMNS = ("sku", "product", "quantity", "price")
ORDER_COLUMNS = (
    "order_id",
    "customer_id",
    "ordered_at",
    "amount",
    "status",
    "delivered_at",
    "category",
    "items",
    "rating",
    "referral_code",
    "refunded_amount",
    *ITEM_COLUMNS,
)
STRING_PROFILE = ("name", "phone", "email", "wechat_id", "gender", "city", "tier", "timezone", "locale")
BOOLEAN_PROFILE = ("consent_sms", "consent_email", "consent_wechat", "consent_phone")
DUCK_TYPES = {
    "integer": "BIGINT",
    "money": "DECIMAL(18,2)",
    "number": "DOUBLE",
    "date": "DATE",
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
    "list": "VARCHAR[]",
}


def profile_types(fields: dict[str, str]) -> dict[str, str]:
    """Every profile column with its DuckDB type: the standard ones, then `fields` (a
    declared field with a standard name keeps the standard type)."""
    types = {name: "VARCHAR" for name in STRING_PROFILE} | {"birthday": "DATE", "points": "BIGINT", "tags": "VARCHAR[]"}
    types |= {name: "BOOLEAN" for name in BOOLEAN_PROFILE}
    return types | {name: DUCK_TYPES[t] for name, t in fields.items() if name not in types}
