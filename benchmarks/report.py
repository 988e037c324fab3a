"""Benchmark the report: `huitou report` over 1M customers, 10M orders and a 1M-row ledger,
against the floor measured in the same run.

The shop is the evaluate benchmark's (benchmarks/synth.py, Parquet). The ledger is made
here once (benchmarks/.data/ledger-<customers>.sqlite, huitou's own schema): 950,000 sent
messages and 50,000 holdout rows of the 20 benchmark rules, for random customers, on
random days of September 2026 at 10:00 (+08:00). Each as its own process, median of
--repeat runs, peak RSS:
  (a) floor  - benchmarks/floor_report.py: hand-written DuckDB SQL for the same rates
               (repeat purchase both ways over the range; per rule, treated and held-out
               customers and those who bought within 14 days of their first message);
  (b) huitou - `huitou report -f json` end to end: start-up, validation, the data's
               checks, the rates, stages, cohorts and median cycle, and per rule and
               playbook the groups, outcomes, CUPED and statistics.
The two must give the same counts, or the run fails.

Usage: python benchmarks/report.py [--customers 1000000] [--repeat 3] [--write]
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]
from docs_section import publish  # noqa: E402
from evaluate import measure  # noqa: E402
from shop_data import arguments, shop_data  # noqa: E402

START, END, AS_OF = "2026-09-01", "2026-09-30", "2026-10-31"
SENT, HELD = 950_000, 50_000


def make_ledger(path: Path, customers: int) -> None:
    """huitou's ledger schema, filled with SENT messages and HELD holdout rows."""
    from huitou.delivery.ledger import Ledger

    rng = np.random.default_rng(13)
    Ledger(path).close()
    db = sqlite3.connect(path)
    day = dt.datetime(2026, 9, 1, 10, tzinfo=dt.timezone(dt.timedelta(hours=8)))

    def rows(n: int, prefix: str) -> list[tuple]:
        ids = rng.integers(1, customers + 1, n)
        rules = rng.integers(1, 21, n)
        days = rng.integers(0, 30, n)
        out = []
        for i in range(n):
            at = day + dt.timedelta(days=int(days[i]))
            out.append(
                (
                    f"{prefix}{i:07d}",
                    "bench-plan",
                    "2026-09-01",
                    f"day:{at.date()}",
                    f"{ids[i]:07d}",
                    "bench",
                    f"r{rules[i]:02d}",
                    0,
                    "sms",
                    "care",
                    at.isoformat(),
                    at.timestamp(),
                )
            )
        return out

    columns = 'idempotency_key, plan_id, plan_as_of, "trigger", customer_id, playbook, rule_id, step, channel, intent, send_at, send_at_utc'
    db.executemany(
        f"INSERT INTO messages ({columns}, recipient, content, state, attempts, updated_at) VALUES ({', '.join('?' * 12)}, '13800000000', "
        '\'{"body": "hi", "segments": 1}\', \'sent\', 1, 0)',
        rows(SENT, "m"),
    )
    db.executemany(f"INSERT INTO holdouts ({columns}, recorded_at) VALUES ({', '.join('?' * 12)}, 0)", rows(HELD, "h"))
    db.commit()
    db.close()


def main() -> None:
    args = arguments(repeat=3)
    data = shop_data(args)
    ledger = data.parent / f"ledger-{args.customers}.sqlite"
    if not ledger.exists():
        make_ledger(ledger, args.customers)
    huitou = str(Path(sys.executable).parent / "huitou")
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        shutil.copytree(HERE / "project", project)
        config = project / "huitou.yaml"
        config.write_text(config.read_text(encoding="utf-8") + f"ledger: {{path: {json.dumps(str(ledger))}}}\n", encoding="utf-8")
        floor = measure([sys.executable, str(HERE / "floor_report.py"), str(data), str(ledger), START, END], project, args.repeat)
        ours = measure([huitou, "report", "--data", str(data), "--from", START, "--to", END, "--as-of", AS_OF, "-f", "json"], project, args.repeat)
    expected, got = json.loads(floor[2]), json.loads(ours[2])
    rates = got["repeat_purchase"]
    assert [rates["by_customer"]["numerator"], rates["by_customer"]["denominator"]] == expected["by_customer"], "by customer"
    assert [rates["by_transaction"]["numerator"], rates["by_transaction"]["denominator"]] == expected["by_transaction"], "by transaction"
    for rule in got["rules"]:
        counts = [rule["treated"]["customers"], rule["treated"]["converted"], rule["holdout"]["customers"], rule["holdout"]["converted"]]
        assert counts == expected["rules"][rule["rule"]], rule["rule"]
    assert len(got["rules"]) == len(expected["rules"]) == 20

    lines = [
        "## report",
        "",
        f"`python benchmarks/report.py --customers {args.customers} --repeat {args.repeat}` on {platform.node()} ({os.cpu_count()} cores, "
        f"Python {platform.python_version()}), {dt.date.today().isoformat()}. {args.customers:,} customers, the evaluate benchmark's orders "
        f"(Parquet), a ledger of {SENT:,} sent messages and {HELD:,} holdout rows of 20 rules in September 2026; report range {START} .. {END}, "
        f"as of {AS_OF}. Each command a separate process, median of {args.repeat} runs; the two give the same counts (checked).",
        "",
        "| | wall (s) | peak RSS | ratio |",
        "|---|---:|---:|---:|",
        f"| (a) floor: hand-written DuckDB SQL for the same rates | {floor[0]:.2f} | {floor[1]:,.0f} MiB | 1.00 |",
        f"| (b) `huitou report -f json`, end to end | {ours[0]:.2f} | {ours[1]:,.0f} MiB | b/a = {ours[0] / floor[0]:.2f} |",
        "",
        "(b) does more than (a): the data's checks, the lifecycle stages, the cohorts and the median purchase cycle, revenue and",
        "purchases before and after each message (CUPED) and the statistics, per rule and per playbook. Target: within 2x.",
        "",
    ]
    publish(lines, args.write)


if __name__ == "__main__":
    main()
