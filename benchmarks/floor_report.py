"""The report's floor: hand-written DuckDB SQL computing the same rates as `huitou report`
over the Parquet files and the ledger - repeat purchase by customer and by transaction over
the range, and per rule the treated and held-out customers and how many of them bought
within 14 days of their first message. No validation, no checks, no statistics. Prints
the counts as JSON.

Usage: python benchmarks/floor_report.py DATA_DIR LEDGER FROM TO
"""

import json
import sqlite3
import sys
from pathlib import Path

import duckdb
import numpy as np

data, ledger, start, end = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
con = duckdb.connect()
con.execute(f"""CREATE VIEW paid AS SELECT customer_id, ordered_at, CAST(ordered_at AS DATE) AS d, amount, file_row_number AS r
                FROM read_parquet('{data / "orders.parquet"}', file_row_number = true) WHERE status = 'paid'""")
rates = con.execute(f"""
    WITH ranked AS (SELECT customer_id, d, ordered_at, r, row_number() OVER (PARTITION BY customer_id ORDER BY ordered_at, r) AS nth FROM paid),
         inside AS (SELECT customer_id, nth, row_number() OVER (PARTITION BY customer_id ORDER BY ordered_at, r) AS k
                    FROM ranked WHERE d BETWEEN DATE '{start}' AND DATE '{end}')
    SELECT count(DISTINCT customer_id) FILTER (WHERE nth >= 2), count(DISTINCT customer_id), count(*) FILTER (WHERE k >= 2), count(*) FROM inside""").fetchone()

db = sqlite3.connect(ledger)
rows = db.execute(f"""SELECT 't', rule_id, customer_id, send_at_utc FROM messages WHERE state = 'sent' AND substr(send_at, 1, 10) BETWEEN '{start}' AND '{end}'
                      UNION ALL SELECT 'h', rule_id, customer_id, send_at_utc FROM holdouts WHERE substr(send_at, 1, 10) BETWEEN '{start}' AND '{end}'""").fetchall()
arm, rule, customer, at = (np.array(c, dtype=object) for c in zip(*rows))
con.execute(f"SET pandas_analyze_sample = {len(rows) + 1}")
con.register("l", {"arm": arm, "rule": rule, "customer_id": customer, "t": at.astype(float)})
per_rule = con.execute("""
    WITH u AS (SELECT rule, customer_id, bool_or(arm = 't') AS treated,
                      timezone('Asia/Shanghai', to_timestamp(coalesce(min(t) FILTER (WHERE arm = 't'), min(t)))) AS t0 FROM l GROUP BY rule, customer_id)
    SELECT rule, treated, count(*), count(*) FILTER (WHERE bought) FROM (
        SELECT u.rule, u.customer_id, u.treated, bool_or(p.ordered_at > u.t0 AND p.ordered_at <= u.t0 + INTERVAL 14 DAY) AS bought
        FROM u LEFT JOIN paid p ON p.customer_id = u.customer_id AND p.ordered_at > u.t0 AND p.ordered_at <= u.t0 + INTERVAL 14 DAY
        GROUP BY ALL) GROUP BY ALL ORDER BY ALL""").fetchall()
out: dict[str, list[int]] = {}
for name, treated, customers, converted in per_rule:
    entry = out.setdefault(name, [0, 0, 0, 0])  # treated customers, converted, held out, converted
    if treated:
        entry[0], entry[1] = customers, converted
    else:
        entry[2], entry[3] = customers, converted
print(json.dumps({"by_customer": [rates[0], rates[1]], "by_transaction": [rates[2], rates[3]], "rules": out}))
