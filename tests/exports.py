"""Shop exports in the shapes the platforms write them, for the identity and contact tests.

- `write_taobao`: a Taobao/Tmall seller-center order export. One row per order, Chinese
  headers; the buyer's member name is the id; phones guarded for Excel (`'138...` or a
  leading tab), order numbers as `="4012..."`; some orders shipped to a gift recipient
  (another name and phone); some latest orders without a phone.
- `write_shopify`: a Shopify orders export. Customers are keyed by email, typed in two
  letter cases by some; guest checkouts have a phone and no email; times with their
  offset (`-04:00`; Shopify's own ` -0400` is issue 33's); phones in national and
  international forms, some guarded.

Each returns the people behind the file as the tests' own truth (written here, not read
back through huitou). Deterministic for a given seed.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from dataclasses import dataclass, field
from pathlib import Path

TAOBAO_COLUMNS = ["订单编号", "买家会员名", "买家实际支付金额", "订单状态", "订单创建时间", "收货人姓名", "联系手机"]
TAOBAO_STATUS = {"paid": "交易成功", "cancelled": "交易关闭"}
SHOPIFY_COLUMNS = ["Name", "Email", "Financial Status", "Created at", "Total", "Billing Name", "Phone"]


@dataclass
class Person:
    key: str  # the id as huitou should read it
    name: str
    phone: str | None  # E.164, as huitou should read it; None: none usable
    orders: list[tuple[str, dt.datetime, float, str]] = field(default_factory=list)  # (order id, time, amount, status)
    spellings: set[str] = field(default_factory=set)  # the ids as the file writes them


def _guarded_phone(rng: random.Random, national: str) -> str:
    return rng.choice(
        ["'" + national, "\t" + national, national, "+86 " + national[:3] + " " + national[3:7] + " " + national[7:], "0086" + national]
    )


def write_taobao(path: Path, people: int = 60, seed: int = 31) -> dict[str, Person]:
    """The export; the people by their id."""
    rng = random.Random(seed)
    out: dict[str, Person] = {}
    rows = []
    order_no = 4012345678901234000
    for i in range(people):
        national = f"13{rng.randrange(5, 9)}{rng.randrange(10**8):08d}"
        person = Person(f"tb_buyer{i:03d}", f"买家{i}", "+86" + national, spellings={f"tb_buyer{i:03d}"})
        when = dt.datetime(2026, 6, 1, 10) + dt.timedelta(days=rng.randrange(100), minutes=rng.randrange(600))
        for n in range(rng.randrange(1, 4)):
            order_no += 1 + rng.randrange(50)
            status = "cancelled" if rng.random() < 0.1 else "paid"
            amount = round(rng.uniform(20, 500), 2)
            when += dt.timedelta(days=rng.randrange(5, 60))
            name, phone = person.name, _guarded_phone(rng, national)
            if n > 0 and i % 7 == 0:  # a gift to someone else, then a later order with no phone
                gift = f"13{rng.randrange(5, 9)}{rng.randrange(10**8):08d}"
                name, phone = f"收礼人{i}", "'" + gift
            rows.append([f'="{order_no}"', person.key, f"{amount:.2f}", TAOBAO_STATUS[status], when.strftime("%Y-%m-%d %H:%M:%S"), name, phone])
            person.orders.append((str(order_no), when, amount, status))
        if i % 7 == 0 and len(person.orders) > 1:
            rows[-1][5], rows[-1][6] = person.name, ""  # the latest order: the buyer, no phone
        out[person.key] = person
    _write(path, TAOBAO_COLUMNS, rows, rng)
    return out


def write_shopify(path: Path, people: int = 60, seed: int = 32) -> dict[str, Person]:
    """The export; the people by their id (a lower-case email, or a guest's E.164 phone)."""
    rng = random.Random(seed)
    out: dict[str, Person] = {}
    rows = []
    number = 1000
    for i in range(people):
        area = rng.choice(["718", "212", "917", "646"])
        local = f"{rng.randrange(2, 10)}{rng.randrange(10**6):06d}"  # exchange codes start 2-9
        e164 = f"+1{area}{local}"
        guest = i % 6 == 0
        address = f"customer.{i}@example.com"
        person = Person(e164 if guest else address, f"Customer {i}", e164)
        when = dt.datetime(2026, 6, 1, 9) + dt.timedelta(days=rng.randrange(100), minutes=rng.randrange(600))
        for n in range(rng.randrange(1, 4)):
            number += 1
            when += dt.timedelta(days=rng.randrange(5, 60))
            status = "paid" if rng.random() > 0.1 else "refunded"
            amount = round(rng.uniform(15, 300), 2)
            written = "" if guest else (address.upper() if n % 2 and i % 3 == 0 else address)
            phone = rng.choice([f"({area}) {local[:3]}-{local[3:]}", e164, f"+1 {area} {local[:3]} {local[3:]}", f"'{e164}"])
            offset = rng.choice(["-04:00", "-05:00"])
            rows.append([f"#{number}", written, status, when.strftime("%Y-%m-%d %H:%M:%S") + offset, f"{amount:.2f}", person.name, phone])
            person.orders.append((f"#{number}", when, amount, status))
            person.spellings.add(written or phone)
        out[person.key] = person
    _write(path, SHOPIFY_COLUMNS, rows, rng)
    return out


def _write(path: Path, columns: list[str], rows: list[list[str]], rng: random.Random) -> None:
    """The rows in an order of their own (exports are not sorted by customer)."""
    rng.shuffle(rows)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(rows)
