"""The peer a data analyst would write: pandas over the same Parquet files, the same
features and the same 20 predicates as boolean masks. Prints the counts as JSON.

Usage: python benchmarks/peer_pandas.py DATA_DIR AS_OF
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def features(data: Path, as_of: pd.Timestamp) -> tuple[pd.DataFrame, list[pd.Series]]:
    """The customers frame with the features, and the 20 predicates as boolean masks."""
    orders = pd.read_parquet(
        data / "orders.parquet", columns=["order_id", "customer_id", "ordered_at", "amount", "status", "delivered_at", "category", "rating"]
    )
    customers = pd.read_parquet(data / "customers.parquet")
    orders["d"] = orders["ordered_at"].dt.normalize()
    orders = orders[orders["d"] <= as_of]
    # Latest = latest time; among equal times the later row of the file (a stable sort keeps it last).
    paid = orders[orders["status"] == "paid"].sort_values(["customer_id", "ordered_at"], kind="stable")
    cents = (paid["amount"] * 100).round().astype("int64")
    g = paid.assign(cents=cents).groupby("customer_id")
    f = pd.DataFrame(
        {
            "order_count": g.size(),
            "purchase_days": g["d"].nunique(),
            "first": g["d"].min(),
            "last": g["d"].max(),
            "cents": g["cents"].sum(),
            "last_category": g["category"].last(),
        }
    )
    c = customers.set_index("customer_id").join(f, how="left")
    # Features over all orders (not only purchases) go on the customers frame directly.
    c["has_unpaid_order"] = c.index.isin(orders.loc[orders["status"] == "unpaid", "customer_id"].unique())
    c["last_rating"] = (
        orders.dropna(subset=["rating"]).sort_values(["customer_id", "ordered_at"], kind="stable").groupby("customer_id")["rating"].last()
    )
    delivered = orders["delivered_at"].dt.normalize()
    c["last_delivery"] = orders.assign(dd=delivered.where(delivered <= as_of)).groupby("customer_id")["dd"].max()
    c["order_count"] = c["order_count"].fillna(0)
    c["purchase_days"] = c["purchase_days"].fillna(0)
    dsl = (as_of - c["last"]).dt.days
    c["days_since_last_order"] = dsl
    c["total_spent"] = c["cents"].fillna(0) / 100
    c["avg_order_value"] = (c["cents"] / c["order_count"]).round() / 100
    cycle = (c["last"] - c["first"]).dt.days / (c["purchase_days"] - 1)
    c["days_until_due"] = cycle.where(c["purchase_days"] >= 2) - dsl
    c["days_since_last_delivery"] = (as_of - c["last_delivery"]).dt.days
    bday = pd.to_datetime(c["birthday"])

    def birthday_in(year: int) -> pd.Series:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        day = bday.dt.day.where(~((bday.dt.month == 2) & (bday.dt.day == 29)) | leap, 28)
        return pd.to_datetime(pd.DataFrame({"year": year, "month": bday.dt.month, "day": day}), errors="coerce")

    this, nxt = birthday_in(as_of.year), birthday_in(as_of.year + 1)
    c["days_to_birthday"] = ((this.where(this >= as_of, nxt)) - as_of).dt.days
    before = (bday.dt.month > as_of.month) | ((bday.dt.month == as_of.month) & (bday.dt.day > as_of.day))
    c["age"] = as_of.year - bday.dt.year - before.astype(int)
    c["lifecycle"] = np.select(
        [dsl.isna(), dsl <= 45, dsl <= 89, dsl <= 180, dsl <= 360],
        [None, np.where(c["order_count"] == 1, "new", "active"), "cooling", "dormant_high", "dormant_low"],
        "lost",
    )
    tags = c["tags"].fillna("")
    masks = [
        (c.order_count == 1) & (dsl <= 45),
        (c.order_count >= 2) & (dsl <= 45),
        dsl.between(46, 89),
        dsl.between(90, 180),
        dsl.between(181, 360),
        (c.avg_order_value >= 140) & (dsl <= 180),
        (c.avg_order_value >= 70) & (c.avg_order_value < 140),
        c.total_spent > 1000,
        c.days_to_birthday <= 3,
        c.has_unpaid_order.fillna(False).astype(bool),
        c.last_rating <= 2,
        (c.purchase_days >= 2) & c.days_until_due.between(-7, 2),
        c.tier.isin(["gold", "platinum"]) & (dsl <= 90),
        tags.str.contains("vip", regex=False),
        (c.lifecycle == "dormant_high") & c.consent_sms.fillna(False).astype(bool),
        (c.city == "上海") & (c.order_count >= 3),
        (c.points >= 1000) & ~c.has_unpaid_order.fillna(False).astype(bool),
        (c["last"] >= as_of - pd.Timedelta(days=30)) & (c.last_category == "coffee"),
        c.age.between(25, 35) & (c.gender == "F"),
        c.days_since_last_delivery.between(2, 4),
    ]
    return c, masks


if __name__ == "__main__":
    c, masks = features(Path(sys.argv[1]), pd.Timestamp(sys.argv[2]))
    print(json.dumps({"customers": int(len(c)), "counts": [int(m.fillna(False).sum()) for m in masks]}))
