"""A seeded synthetic shop: customers with profiles, orders with a per-customer rhythm.

The same seed and size give the same files (customers, orders, a message history, opt-outs). Used for the bundled examples/ data (small)
and the benchmark workload (1M customers / 10M orders).

Usage: python benchmarks/synth.py OUT_DIR --customers N [--orders-per-customer 10]
       [--end 2026-10-31] [--format csv|parquet] [--seed 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗") + ["欧阳", "司马"]
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰")
CITIES = ["上海", "北京", "杭州", "广州", "深圳", "成都", "南京", "武汉", "苏州", "西安"]
CATEGORIES = ["coffee", "tea", "snacks", "cosmetics", "books", "apparel", "home"]
TIERS = ["bronze", "silver", "gold", "platinum"]
TAGS = ["vip", "coupon_user", "wholesale", "new_arrivals", "gift_buyer"]


def customers_table(n: int, rng: np.random.Generator) -> pa.Table:
    ids = np.array([f"{i:07d}" for i in range(1, n + 1)])
    surnames = rng.choice(np.array(SURNAMES), n)
    given = rng.choice(np.array(GIVEN), n)
    given2 = np.where(rng.random(n) < 0.6, rng.choice(np.array(GIVEN), n), "")
    names = np.char.add(np.char.add(surnames, given), given2)
    names = np.where(rng.random(n) < 0.05, None, names)
    phones = np.char.add("13", np.char.zfill(rng.integers(0, 10**9, n).astype(str), 9))
    emails = np.where(rng.random(n) < 0.7, np.char.add(np.char.add("c", ids), "@mail.example.cn"), None)
    wechat = np.where(rng.random(n) < 0.5, np.char.add("wx_", ids), None)
    born = dt.date(1960, 1, 1).toordinal() + rng.integers(0, 365 * 45, n)
    birthday = np.array([dt.date.fromordinal(int(o)) for o in born], dtype=object)
    birthday[rng.random(n) < 0.3] = None
    tier = rng.choice(np.array(TIERS), n, p=[0.55, 0.3, 0.12, 0.03])
    points = rng.integers(0, 5000, n)
    tag_mask = rng.random((n, len(TAGS))) < np.array([0.05, 0.2, 0.02, 0.1, 0.08])
    tags = ["|".join(t for t, on in zip(TAGS, row) if on) for row in tag_mask]
    return pa.table(
        {
            "customer_id": ids,
            "name": names,
            "phone": phones,
            "email": emails,
            "wechat_id": wechat,
            "birthday": pa.array(birthday, type=pa.date32()),
            "gender": rng.choice(np.array(["F", "M"]), n),
            "city": rng.choice(np.array(CITIES), n),
            "tier": tier,
            "points": points,
            "tags": tags,
            "consent_sms": rng.random(n) < 0.8,
            "consent_email": rng.random(n) < 0.6,
            "consent_wechat": rng.random(n) < 0.5,
            "consent_phone": rng.random(n) < 0.3,
        }
    )


def orders_table(n_customers: int, per_customer: float, end: dt.date, rng: np.random.Generator) -> pa.Table:
    """Orders over three years: each customer buys k times at their own rhythm."""
    counts = np.minimum(rng.geometric(1 / per_customer, n_customers), 200)
    total = int(counts.sum())
    cust = np.repeat(np.arange(1, n_customers + 1), counts)
    span = 3 * 365
    first = rng.integers(0, span, n_customers)
    cycle = rng.integers(7, 120, n_customers)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    step = np.arange(total) - starts
    jitter = rng.integers(-3, 4, total)
    day = np.repeat(first, counts) + step * np.repeat(cycle, counts) + jitter
    day = np.clip(day, 0, span - 1)
    start = end.toordinal() - span + 1
    seconds = rng.integers(8 * 3600, 23 * 3600, total)
    epoch = (day + start - dt.date(1970, 1, 1).toordinal()) * 86400 + seconds
    ordered = pa.array(epoch * 1_000_000, type=pa.timestamp("us"))
    cents = np.round(np.exp(rng.normal(4.3, 0.7, total)) * 100).astype(np.int64)
    status = rng.choice(np.array(["paid", "cancelled", "refunded", "unpaid"]), total, p=[0.9, 0.04, 0.03, 0.03])
    delivered = np.where(status == "paid", epoch + rng.integers(2, 5, total) * 86400, -1)
    delivered_arr = pa.array(np.where(delivered < 0, 0, delivered) * 1_000_000, type=pa.timestamp("us"), mask=delivered < 0)
    rating = rng.integers(1, 6, total)
    rating_mask = (rng.random(total) < 0.7) | (status != "paid")
    return pa.table(
        {
            "order_id": np.char.add("O", np.char.zfill(np.arange(1, total + 1).astype(str), 9)),
            "customer_id": np.char.zfill(cust.astype(str), 7),
            "ordered_at": ordered,
            # Money as shops export it: a float with cents; huitou reads it as DECIMAL(18,2).
            "amount": np.round(cents / 100, 2),
            "status": status,
            "delivered_at": delivered_arr,
            "category": rng.choice(np.array(CATEGORIES), total),
            "rating": pa.array(rating, mask=rating_mask),
        }
    )


def history_table(n: int, end: dt.date, rng: np.random.Generator) -> pa.Table:
    """Messages sent in the 60 days before `end`: 0-2 per customer, mostly care."""
    per = rng.choice([0, 0, 1, 2], size=n)
    cust = np.repeat(np.arange(n), per)
    days_ago = rng.integers(1, 61, size=len(cust))
    sent = [dt.datetime.combine(end - dt.timedelta(days=int(d)), dt.time(10, 0)) for d in days_ago]
    return pa.table(
        {
            "customer_id": pa.array([f"{i:07d}" for i in cust]),
            "channel": pa.array(rng.choice(["sms", "wechat", "email"], size=len(cust))),
            "intent": pa.array(rng.choice(["care", "care", "care", "promotion"], size=len(cust))),
            "sent_at": pa.array(sent, type=pa.timestamp("s")),
        }
    )


def optouts_table(n: int, rng: np.random.Generator) -> pa.Table:
    """About 3% of customers opted out: of SMS, or (blank channel) of everything."""
    chosen = np.flatnonzero(rng.random(n) < 0.03)
    return pa.table({"customer_id": pa.array([f"{i:07d}" for i in chosen]), "channel": pa.array(rng.choice(["sms", ""], size=len(chosen)))})


def write(table: pa.Table, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        pq.write_table(table, path)
    else:
        pacsv.write_csv(table, path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--orders-per-customer", type=float, default=10.0)
    parser.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2026, 10, 31))
    parser.add_argument("--format", choices=["csv", "parquet"], default="parquet")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    customers = customers_table(args.customers, rng)
    orders = orders_table(args.customers, args.orders_per_customer, args.end, rng)
    # Points that expire at the end of a month in the coming year (the customer's own date a
    # timing can anchor on); a generator of its own, so the other columns stay as they were.
    expiry = np.random.default_rng(args.seed + 2)
    months = expiry.integers(1, 13, args.customers)
    ends = [dt.date(args.end.year + (args.end.month + int(m)) // 12, (args.end.month + int(m)) % 12 + 1, 1) - dt.timedelta(days=1) for m in months]
    expires = pa.array([e if points > 0 else None for e, points in zip(ends, customers.column("points").to_pylist())], type=pa.date32())
    customers = customers.append_column("points_expire_on", expires)
    write(customers, args.out / f"customers.{args.format}", args.format)
    write(orders, args.out / f"orders.{args.format}", args.format)
    # A generator of its own, so that adding these files left customers and orders unchanged.
    extra = np.random.default_rng(args.seed + 1)
    write(history_table(args.customers, args.end, extra), args.out / f"history.{args.format}", args.format)
    write(optouts_table(args.customers, extra), args.out / f"optouts.{args.format}", args.format)
    print(f"wrote {customers.num_rows} customers, {orders.num_rows} orders, message history and opt-outs to {args.out}")


if __name__ == "__main__":
    main()
