"""The feature catalog: every name a predicate or template may use, with its type.

docs/features.md gives the exact definitions; a test keeps the two in step.

>>> CATALOG["days_since_last_order"].type
'integer'
>>> CATALOG["lifecycle"].values[:2]
('new', 'active')
"""

from __future__ import annotations

from dataclasses import dataclass

from .vocabulary import OrderStatus

# Types of the predicate language: integer, money (exact decimal), number, date, string,
# boolean, list (of strings).
NUMERIC = {"integer", "money", "number"}


@dataclass(frozen=True)
class Feature:
    name: str
    type: str
    summary: str
    values: tuple[str, ...] = ()  # the closed set of values a string feature takes, if any
    source: str = "orders"  # orders | customers (profile columns may be absent) | forecast (fitted: forecast/fit.py) | associations


LIFECYCLE_STAGES = ("new", "active", "cooling", "dormant_high", "dormant_low", "lost")
ORDER_STATUSES = tuple(OrderStatus)

_FEATURES = [
    Feature("customer_id", "string", "The customer's id, exactly as in the data.", source="customers"),
    Feature("order_count", "integer", "Purchases (paid orders) up to the as-of date."),
    Feature("purchase_days", "integer", "Distinct local dates with a purchase."),
    Feature("first_order_date", "date", "Local date of the first purchase."),
    Feature("last_order_date", "date", "Local date of the latest purchase."),
    Feature("days_since_first_order", "integer", "As-of date minus first_order_date, in days."),
    Feature("days_since_last_order", "integer", "As-of date minus last_order_date, in days."),
    Feature("total_spent", "money", "Sum of purchase amounts (exact decimal)."),
    Feature("avg_order_value", "money", "total_spent / order_count, rounded to cents."),
    Feature(
        "purchase_cycle_days",
        "number",
        "(last - first order date) / (purchase_days - 1), exact, half to even to 2 decimals; null below 2 purchase days.",
    ),
    Feature("days_until_due", "number", "purchase_cycle_days - days_since_last_order; negative when overdue."),
    Feature("lifecycle", "string", "Lifecycle stage from recency and order count.", LIFECYCLE_STAGES),
    Feature(
        "p_alive",
        "number",
        "Probability that the customer still buys (BG/NBD, fitted on the shop's history); null without a fit.",
        source="forecast",
    ),
    Feature("expected_orders_90d", "number", "Expected purchase days in the next 90 days (BG/NBD); null without a fit.", source="forecast"),
    Feature("expected_spend_90d", "number", "Expected spend in the next 90 days (BG/NBD x Gamma-Gamma); null without a fit.", source="forecast"),
    Feature(
        "recommendations",
        "list",
        "What goes with the last purchase (its category, or its products when orders carry line items), best first, leaving out what was already bought (associations).",
        source="associations",
    ),
    Feature("has_recommendation", "boolean", "recommendations is not empty.", source="associations"),
    Feature(
        "referral_code",
        "string",
        "The customer's referral code, signed with the shop's secret (referral in huitou.yaml); null without it.",
        source="referral",
    ),
    Feature("referral_url", "string", "referral.url with the customer's code; null without it.", source="referral"),
    Feature(
        "referred_orders",
        "integer",
        "Paid orders other customers placed with this customer's referral code (0 without referral).",
        source="referral",
    ),
    Feature("days_to_birthday", "integer", "Days from the as-of date to the next birthday (0 on the day).", source="customers"),
    Feature("age", "integer", "Whole years since the birthday.", source="customers"),
    Feature("has_unpaid_order", "boolean", "An unpaid, not cancelled order exists."),
    Feature("last_order_status", "string", "Status of the latest order of any status.", ORDER_STATUSES),
    Feature("days_since_last_delivery", "integer", "As-of date minus the latest delivered_at date."),
    Feature("last_rating", "integer", "Rating of the latest rated order (1-5)."),
    Feature("last_category", "string", "Category of the latest purchase that has one."),
    Feature("name", "string", "Customer name.", source="customers"),
    Feature("phone", "string", "Mobile number.", source="customers"),
    Feature("email", "string", "Email address.", source="customers"),
    Feature("wechat_id", "string", "WeChat id.", source="customers"),
    Feature("birthday", "date", "Birthday (the year may be unknown: 1900).", source="customers"),
    Feature("gender", "string", "Gender as given.", source="customers"),
    Feature("city", "string", "City.", source="customers"),
    Feature("tier", "string", "Membership tier.", source="customers"),
    Feature("points", "integer", "Loyalty points.", source="customers"),
    Feature("tags", "list", "Tags (a list of strings).", source="customers"),
    Feature("timezone", "string", "IANA timezone of the customer.", source="customers"),
    Feature("locale", "string", "Preferred locale, e.g. zh-CN.", source="customers"),
    Feature("consent_sms", "boolean", "Consent to marketing SMS.", source="customers"),
    Feature("consent_email", "boolean", "Consent to marketing email.", source="customers"),
    Feature("consent_wechat", "boolean", "Consent to WeChat/IM messages.", source="customers"),
    Feature("consent_phone", "boolean", "Consent to marketing calls.", source="customers"),
]

CATALOG: dict[str, Feature] = {f.name: f for f in _FEATURES}


def catalog_with(extra_fields: dict[str, str] | None = None) -> dict[str, Feature]:
    """The catalog plus project-declared profile columns (huitou.yaml `data.customers.fields`)."""
    if not extra_fields:
        return CATALOG
    merged = dict(CATALOG)
    for name, type_ in extra_fields.items():
        merged[name] = Feature(name, type_, "Profile column declared in huitou.yaml.", source="customers")
    return merged


def declared_date_fields(catalog: dict[str, Feature]) -> frozenset[str]:
    """Profile fields declared in huitou.yaml with type date: a timing may anchor on them."""
    return frozenset(name for name, f in catalog.items() if f.type == "date" and name not in CATALOG)
