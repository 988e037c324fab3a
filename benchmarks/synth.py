"""A seeded synthetic shop: customers with profiles, orders with a per-customer rhythm.

The same seed, size and shape give the same files (customers, orders, a message history,
opt-outs). Used for the bundled examples/ data (small) and the benchmark workloads (1M
customers / 10M orders up to 10M / 100M).

The shop is made and written a chunk of customers at a time (a Parquet row group, or a
run of CSV lines, per chunk), so memory is bounded by one chunk whatever the size: 10M
customers and 100M orders are written in about the memory of 1M. The first chunk draws
from the seed's own generators, so a shop of up to one chunk is the one this script
always made; each further chunk has generators of its own, seeded by (seed, chunk).

Two shapes: `rhythm` (the default: about N orders a customer, geometric, over three
years) and `heavy` (heavy-tailed order counts - most customers buy once or twice, a few
hundreds of times - over ten years of history), the shape that makes the next-purchase
models' fits work hardest.

Usage: python benchmarks/synth.py OUT_DIR --customers N [--orders-per-customer 10]
       [--shape rhythm|heavy] [--end 2026-10-31] [--format csv|parquet] [--seed 7]
       [--chunk 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
SHAPES = {"rhythm": 3 * 365, "heavy": 10 * 365}  # shape -> days of order history
CHUNK = 1_000_000
EPOCH = dt.date(1970, 1, 1).toordinal()
TABLES = ("customers", "orders", "history", "optouts")


def ids(first: int, count: int) -> np.ndarray:
    """Customer ids first, first + 1, ... as the shop writes them (seven digits or more)."""
    return np.char.zfill(np.arange(first, first + count).astype(str), 7)


def customers_table(n: int, rng: np.random.Generator, first: int = 1) -> pa.Table:
    own = ids(first, n)
    surnames = rng.choice(np.array(SURNAMES), n)
    given = rng.choice(np.array(GIVEN), n)
    given2 = np.where(rng.random(n) < 0.6, rng.choice(np.array(GIVEN), n), "")
    names = np.char.add(np.char.add(surnames, given), given2)
    names = np.where(rng.random(n) < 0.05, None, names)
    phones = np.char.add("13", np.char.zfill(rng.integers(0, 10**9, n).astype(str), 9))
    emails = np.where(rng.random(n) < 0.7, np.char.add(np.char.add("c", own), "@mail.example.cn"), None)
    wechat = np.where(rng.random(n) < 0.5, np.char.add("wx_", own), None)
    born = dt.date(1960, 1, 1).toordinal() + rng.integers(0, 365 * 45, n)
    birthday = pa.array(born - EPOCH, type=pa.int32(), mask=rng.random(n) < 0.3).cast(pa.date32())
    tier = rng.choice(np.array(TIERS), n, p=[0.55, 0.3, 0.12, 0.03])
    points = rng.integers(0, 5000, n)
    tag_mask = rng.random((n, len(TAGS))) < np.array([0.05, 0.2, 0.02, 0.1, 0.08])
    tags = ["|".join(t for t, on in zip(TAGS, row) if on) for row in tag_mask]
    return pa.table(
        {
            "customer_id": own,
            "name": names,
            "phone": phones,
            "email": emails,
            "wechat_id": wechat,
            "birthday": birthday,
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


def order_counts(n: int, per_customer: float, shape: str, rng: np.random.Generator) -> np.ndarray:
    """Orders per customer: geometric around `per_customer` (rhythm), or one plus a Lomax
    (Pareto II, tail index 1.5) draw with about the same mean (heavy; up to 5,000)."""
    if shape == "heavy":
        return np.minimum(1 + np.floor(rng.pareto(1.5, n) * (per_customer - 1) / 2).astype(np.int64), 5000)
    return np.minimum(rng.geometric(1 / per_customer, n), 200)


def orders_table(
    n_customers: int, per_customer: float, end: dt.date, rng: np.random.Generator, first: int = 1, first_order: int = 1, shape: str = "rhythm"
) -> pa.Table:
    """Orders over the shape's history: each customer buys k times at their own rhythm."""
    counts = order_counts(n_customers, per_customer, shape, rng)
    total = int(counts.sum())
    cust = np.repeat(np.arange(first, first + n_customers), counts)
    span = SHAPES[shape]
    first_day = rng.integers(0, span, n_customers)
    if shape == "heavy":  # a long history fits in the window: the cycle shrinks with the count
        cycle = np.maximum(1, ((span - first_day) / counts * rng.uniform(0.5, 1.0, n_customers)).astype(np.int64))
    else:
        cycle = rng.integers(7, 120, n_customers)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    step = np.arange(total) - starts
    jitter = rng.integers(-3, 4, total)
    day = np.repeat(first_day, counts) + step * np.repeat(cycle, counts) + jitter
    day = np.clip(day, 0, span - 1)
    start = end.toordinal() - span + 1
    seconds = rng.integers(8 * 3600, 23 * 3600, total)
    epoch = (day + start - EPOCH) * 86400 + seconds
    ordered = pa.array(epoch * 1_000_000, type=pa.timestamp("us"))
    cents = np.round(np.exp(rng.normal(4.3, 0.7, total)) * 100).astype(np.int64)
    status = rng.choice(np.array(["paid", "cancelled", "refunded", "unpaid"]), total, p=[0.9, 0.04, 0.03, 0.03])
    delivered = np.where(status == "paid", epoch + rng.integers(2, 5, total) * 86400, -1)
    delivered_arr = pa.array(np.where(delivered < 0, 0, delivered) * 1_000_000, type=pa.timestamp("us"), mask=delivered < 0)
    rating = rng.integers(1, 6, total)
    rating_mask = (rng.random(total) < 0.7) | (status != "paid")
    return pa.table(
        {
            "order_id": np.char.add("O", np.char.zfill(np.arange(first_order, first_order + total).astype(str), 9)),
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


# The history and opt-outs number customers from `first - 1`: the first shops were made so
# (their customer "0000000" matches no one), and a chunk of the same size stays that shop.
def history_table(n: int, end: dt.date, rng: np.random.Generator, first: int = 1) -> pa.Table:
    """Messages sent in the 60 days before `end`: 0-2 per customer, mostly care."""
    per = rng.choice([0, 0, 1, 2], size=n)
    cust = np.repeat(np.arange(first - 1, first - 1 + n), per)
    days_ago = rng.integers(1, 61, size=len(cust))
    sent = (end.toordinal() - days_ago - EPOCH) * 86400 + 10 * 3600  # at 10:00
    return pa.table(
        {
            "customer_id": pa.array(np.char.zfill(cust.astype(str), 7)),
            "channel": pa.array(rng.choice(["sms", "wechat", "email"], size=len(cust))),
            "intent": pa.array(rng.choice(["care", "care", "care", "promotion"], size=len(cust))),
            "sent_at": pa.array(sent, type=pa.timestamp("s")),
        }
    )


def optouts_table(n: int, rng: np.random.Generator, first: int = 1) -> pa.Table:
    """About 3% of customers opted out: of SMS, or (blank channel) of everything."""
    chosen = np.flatnonzero(rng.random(n) < 0.03) + first - 1
    return pa.table({"customer_id": pa.array(np.char.zfill(chosen.astype(str), 7)), "channel": pa.array(rng.choice(["sms", ""], size=len(chosen)))})


def points_expiry(points: pa.ChunkedArray, end: dt.date, rng: np.random.Generator) -> pa.Array:
    """Points that expire at the end of a month in the coming year (the customer's own date
    a timing can anchor on); none where a customer has no points."""
    months = rng.integers(1, 13, len(points))
    last_days = [dt.date(end.year + (end.month + m) // 12, (end.month + m) % 12 + 1, 1) - dt.timedelta(days=1) for m in range(13)]
    days = np.array([d.toordinal() - EPOCH for d in last_days])[months]
    return pa.array(days, type=pa.int32(), mask=points.to_numpy() == 0).cast(pa.date32())


def generator(seed: int, chunk: int) -> np.random.Generator:
    """The first chunk draws from the seed's own generator (a shop of one chunk is the one
    this script always made); every further chunk from one of its own."""
    return np.random.default_rng(seed if chunk == 0 else [seed, chunk])


def chunks(args: argparse.Namespace) -> Iterator[dict[str, pa.Table]]:
    """The shop, a chunk of customers (and their orders, history, opt-outs) at a time."""
    next_order = 1
    for k, first in enumerate(range(1, args.customers + 1, args.chunk)):
        n = min(args.chunk, args.customers + 1 - first)
        rng = generator(args.seed, k)
        customers = customers_table(n, rng, first)
        orders = orders_table(n, args.orders_per_customer, args.end, rng, first, next_order, args.shape)
        next_order += orders.num_rows
        # Generators of their own, so that adding these columns and files left customers and
        # orders unchanged.
        customers = customers.append_column("points_expire_on", points_expiry(customers.column("points"), args.end, generator(args.seed + 2, k)))
        extra = generator(args.seed + 1, k)
        yield {
            "customers": customers,
            "orders": orders,
            "history": history_table(n, args.end, extra, first),
            "optouts": optouts_table(n, extra, first),
        }


class Files:
    """One file per table, written a chunk at a time, every chunk in the first one's schema."""

    def __init__(self, out: Path, fmt: str) -> None:
        self.out, self.fmt = out, fmt
        self.writers: dict[str, tuple[Any, pa.Schema]] = {}
        self.rows = dict.fromkeys(TABLES, 0)

    def write(self, name: str, table: pa.Table) -> None:
        if name not in self.writers:
            path = self.out / f"{name}.{self.fmt}"
            writer = pq.ParquetWriter(path, table.schema) if self.fmt == "parquet" else pacsv.CSVWriter(path, table.schema)
            self.writers[name] = writer, table.schema
        writer, schema = self.writers[name]
        writer.write_table(table.cast(schema))
        self.rows[name] += table.num_rows

    def close(self) -> None:
        for writer, _schema in self.writers.values():
            writer.close()


def positive(text: str) -> int:
    """A count of at least one (argparse's type: a clear usage error otherwise)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: give 1 or more")
    return value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--customers", type=positive, default=1000)
    parser.add_argument("--orders-per-customer", type=float, default=10.0)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="rhythm")
    parser.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2026, 10, 31))
    parser.add_argument("--format", choices=["csv", "parquet"], default="parquet")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--chunk", type=positive, default=CHUNK, help="customers made and written at a time")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    files = Files(args.out, args.format)
    try:
        for tables in chunks(args):
            for name, table in tables.items():
                files.write(name, table)
    finally:
        files.close()
    rows = files.rows
    print(f"wrote {rows['customers']} customers, {rows['orders']} orders, message history and opt-outs to {args.out}")


if __name__ == "__main__":
    main()
