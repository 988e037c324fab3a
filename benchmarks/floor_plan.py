"""The plan floor: the work no planner can skip, done the plainest fast way. The
features in hand-written DuckDB SQL (floor_duckdb.py), joined to the sends of a plan
already made (PLAN, Parquet, from `huitou plan --out`), and a plain Jinja loop - one
`template.render()` per message, one process - writing the messages to OUT (JSONL). No
timing, no arbitration, no checks. Prints the messages and the loop's own seconds.

Usage: python benchmarks/floor_plan.py DATA_DIR AS_OF PLAN OUT
"""

import datetime as dt
import json
import sys
import time
from pathlib import Path

import duckdb
import yaml
from floor_duckdb import features_sql
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from huitou.templates import FILTERS  # the template language's filters (money, date, mask, greeting)

PROJECT = Path(__file__).resolve().parent / "project"


def main() -> None:
    data, as_of, plan, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
    book = yaml.safe_load((PROJECT / "rules" / "bench20.yaml").read_text(encoding="utf-8"))
    config = yaml.safe_load((PROJECT / "huitou.yaml").read_text(encoding="utf-8"))
    rules = {r["id"]: r for r in book["rules"]}
    con = duckdb.connect()
    cursor = con.execute(f"""
        SELECT p.rule_id, p.step, p.send_at, f.* EXCLUDE (tags), f.last_order_date AS last
        FROM read_parquet('{plan}') p JOIN ({features_sql(data, as_of)}) f USING (customer_id)
        WHERE p.status = 'send'""")
    names = [d[0] for d in cursor.description]
    env = Environment(loader=FileSystemLoader(str(PROJECT / "templates" / "zh-CN")), undefined=StrictUndefined)
    env.filters.update(FILTERS)
    sms = config["channels"]["sms"]
    messages, loop = 0, 0.0
    with out.open("w", encoding="utf-8") as f:
        while batch := cursor.fetchmany(10_000):
            start = time.perf_counter()
            for values in batch:
                row = dict(zip(names, values))
                rule = rules[row["rule_id"]]
                name = rule["template"][row["step"]] if isinstance(rule["template"], dict) else rule["template"]
                template = env.get_template(name)
                at = dt.datetime.fromisoformat(row["send_at"])
                ctx = {
                    "customer": row,
                    "shop": config["shop"],
                    "locale": "zh-CN",
                    "rule": rule,
                    "send": {"at": at, "date": at.date(), "step": row["step"], "event_date": dt.date(2026, 11, 11)},
                    "unsubscribe_url": f"{config['channels']['email']['unsubscribe_url']}?c={row['customer_id']}",
                }
                if rule["channel"] == "email":
                    body = {b: "".join(template.blocks[b](template.new_context(ctx))).strip() for b in ("subject", "text", "html")}
                else:
                    body = template.render(ctx).strip()
                    if rule["channel"] == "sms":
                        body = sms["signature"] + body + (sms["opt_out"] if rule["intent"] == "promotion" else "")
                f.write(json.dumps({"customer_id": row["customer_id"], "rule": rule["id"], "content": body}, ensure_ascii=False) + "\n")
                messages += 1
            loop += time.perf_counter() - start
    print(json.dumps({"messages": messages, "loop_seconds": loop}))


if __name__ == "__main__":
    main()
