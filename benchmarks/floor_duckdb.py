"""The floor: a hand-written DuckDB query computing the features and the 20 benchmark
predicates over the Parquet files, no validation, no checks. Prints the counts as JSON.

Usage: python benchmarks/floor_duckdb.py DATA_DIR AS_OF
"""

import json
import sys
from pathlib import Path

import duckdb


def predicates(as_of: str) -> list[str]:
    """The benchmark predicates as plain SQL over the feature columns."""
    texts = json.loads((Path(__file__).parent / "predicates20.json").read_text(encoding="utf-8"))
    texts = [p.replace("CONTAINS 'vip'", "").replace("tags ", "list_contains(tags, 'vip')") if "CONTAINS" in p else p for p in texts]
    return [p.replace("-30d", f"DATE '{as_of}' - INTERVAL 30 DAY") for p in texts]


def bday(year: str) -> str:
    """This customer's birthday in `year`; 29 February is 28 February outside leap years."""
    leap = f"(({year}) % 4 = 0 AND (({year}) % 100 <> 0 OR ({year}) % 400 = 0))"
    return f"make_date({year}, month(c.birthday), CASE WHEN month(c.birthday) = 2 AND day(c.birthday) = 29 AND NOT {leap} THEN 28 ELSE day(c.birthday) END)"


def features_sql(data: Path, as_of: str) -> str:
    """One row per customer with the features the predicates (and the plan benchmark's
    templates) use."""
    return f"""
WITH o AS (
  SELECT customer_id, CAST(ordered_at AS DATE) AS d, ordered_at, file_row_number, CAST(amount AS DECIMAL(18,2)) AS amount,
         status, CAST(delivered_at AS DATE) AS delivered, category, rating
  FROM read_parquet('{data / "orders.parquet"}', file_row_number = true) WHERE CAST(ordered_at AS DATE) <= DATE '{as_of}'
), a AS (
  SELECT customer_id,
    count(*) FILTER (WHERE status = 'paid') AS order_count,
    count(DISTINCT d) FILTER (WHERE status = 'paid') AS purchase_days,
    min(d) FILTER (WHERE status = 'paid') AS first_d, max(d) FILTER (WHERE status = 'paid') AS last_d,
    sum(amount) FILTER (WHERE status = 'paid') AS total_spent,
    arg_max(category, (ordered_at, file_row_number)) FILTER (WHERE status = 'paid') AS last_category,
    bool_or(status = 'unpaid') AS has_unpaid_order,
    max(delivered) FILTER (WHERE delivered <= DATE '{as_of}') AS last_delivery,
    arg_max(rating, (ordered_at, file_row_number)) FILTER (WHERE rating IS NOT NULL) AS last_rating
  FROM o GROUP BY customer_id
), f AS (
  SELECT c.customer_id, c.name, c.phone, c.email, c.wechat_id, c.birthday, c.tier, c.city, c.gender, c.points, regexp_extract_all(c.tags, '[^|]+') AS tags,
    c.consent_sms, c.consent_email, c.consent_wechat, c.consent_phone,
    coalesce(order_count, 0) AS order_count, coalesce(purchase_days, 0) AS purchase_days,
    last_d AS last_order_date, date_diff('day', last_d, DATE '{as_of}') AS days_since_last_order,
    coalesce(total_spent, 0) AS total_spent,
    CAST(total_spent / order_count AS DECIMAL(18,2)) AS avg_order_value,
    CASE WHEN purchase_days >= 2 THEN date_diff('day', first_d, last_d) / (purchase_days - 1) - date_diff('day', last_d, DATE '{as_of}') END AS days_until_due,
    coalesce(has_unpaid_order, false) AS has_unpaid_order, last_rating, last_category,
    date_diff('day', last_delivery, DATE '{as_of}') AS days_since_last_delivery,
    date_diff('day', DATE '{as_of}', CASE WHEN {bday("year(DATE " + repr(as_of) + ")")} >= DATE '{as_of}'
         THEN {bday("year(DATE " + repr(as_of) + ")")} ELSE {bday("year(DATE " + repr(as_of) + ") + 1")} END) AS days_to_birthday,
    year(DATE '{as_of}') - year(c.birthday) - CASE WHEN strftime(DATE '{as_of}', '%m%d') < strftime(c.birthday, '%m%d') THEN 1 ELSE 0 END AS age,
    CASE WHEN last_d IS NULL THEN NULL WHEN date_diff('day', last_d, DATE '{as_of}') <= 45 THEN CASE WHEN order_count = 1 THEN 'new' ELSE 'active' END
         WHEN date_diff('day', last_d, DATE '{as_of}') <= 89 THEN 'cooling' WHEN date_diff('day', last_d, DATE '{as_of}') <= 180 THEN 'dormant_high'
         WHEN date_diff('day', last_d, DATE '{as_of}') <= 360 THEN 'dormant_low' ELSE 'lost' END AS lifecycle
  FROM read_parquet('{data / "customers.parquet"}') c LEFT JOIN a USING (customer_id)
)
SELECT * FROM f"""


if __name__ == "__main__":
    data, as_of = Path(sys.argv[1]), sys.argv[2]
    counts = ", ".join(f"count(*) FILTER (WHERE {p})" for p in predicates(as_of))
    row = duckdb.connect().execute(f"SELECT count(*), {counts} FROM ({features_sql(data, as_of)})").fetchone()
    print(json.dumps({"customers": row[0], "counts": list(row[1:])}))
