"""A one-table shop export in the shape of the public electronics-shop sales data (English
column names, 'Completed' / 'Cancelled' statuses, Yes/No flags, the buyer's age, gender
and loyalty flag repeated on every order row, America/New_York, two years old).

`python -m tests.electronics OUT.csv --rows 20000` writes the full-size file; the tests
write a small one. Deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
from pathlib import Path

COLUMNS = [
    "Customer ID",
    "Age",
    "Gender",
    "Loyalty Member",
    "Product Type",
    "SKU",
    "Rating",
    "Order Status",
    "Payment Method",
    "Total Price",
    "Unit Price",
    "Quantity",
    "Purchase Date",
    "Shipping Type",
]
PRODUCTS = {"Smartphone": 899.0, "Tablet": 459.0, "Laptop": 1299.0, "Smartwatch": 339.0, "Headphones": 129.0}
START = dt.date(2023, 9, 1)


def write_export(path: Path, rows: int = 20_000, seed: int = 5) -> list[dict[str, str]]:
    """Write the export; returns its rows as written (for independent checks)."""
    rng = random.Random(seed)
    customers = max(10, rows // 2)
    profile = {c: (str(rng.randrange(18, 80)), rng.choice(["Male", "Female"]), rng.choice(["Yes", "No"])) for c in range(1000, 1000 + customers)}
    out = []
    for _ in range(rows):
        cid = rng.randrange(1000, 1000 + customers)
        age, gender, loyal = profile[cid]
        if rng.random() < 0.05:  # a loyalty flag that changed: the latest row says what is true now
            loyal = "No" if loyal == "Yes" else "Yes"
        product = rng.choice(sorted(PRODUCTS))
        quantity = rng.randrange(1, 4)
        unit = PRODUCTS[product] * rng.choice([0.8, 0.9, 1.0])
        status = "Completed" if rng.random() < 0.67 else "Cancelled"
        day = START + dt.timedelta(days=rng.randrange(365))
        out.append(
            {
                "Customer ID": str(cid),
                "Age": age,
                "Gender": gender,
                "Loyalty Member": loyal,
                "Product Type": product,
                "SKU": f"{product[:3].upper()}{rng.randrange(100, 999)}",
                "Rating": str(rng.randrange(1, 6)),
                "Order Status": status,
                "Payment Method": rng.choice(["Credit Card", "PayPal", "Cash", "Bank Transfer"]),
                "Total Price": f"{unit * quantity:.2f}",
                "Unit Price": f"{unit:.2f}",
                "Quantity": str(quantity),
                "Purchase Date": day.isoformat(),
                "Shipping Type": rng.choice(["Standard", "Express"]),
            }
        )
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        writer.writerows(out)
    return out


MAPPED_CONFIG = """version: 1
name: electronics
timezone: America/New_York
default_locale: en
data:
  orders:
    path: sales.csv
    columns: {customer_id: Customer ID, ordered_at: Purchase Date, amount: Total Price, status: Order Status,
              category: Product Type, rating: Rating, gender: Gender, age_years: Age, loyalty_member: Loyalty Member}
    fields: {gender: string, age_years: integer, loyalty_member: boolean}
    values:
      status: {Completed: paid, Cancelled: cancelled, Returned: refunded}
      loyalty_member: {"Yes": true, "No": false}
"""


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    write_export(args.out, args.rows)
    print(f"wrote {args.rows:,} rows to {args.out}")
