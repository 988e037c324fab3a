"""How `huitou plan` grows with the shop: the same 20-rule project over 100,000, 1M and 5M
customers (10 orders each, benchmarks/synth.py, cached in benchmarks/.data/), each size a
separate process with huitou's default memory limit, against the plan benchmark's floor
(benchmarks/floor_plan.py: the features in hand-written DuckDB SQL and a plain Jinja loop
over huitou's sends, DuckDB's own memory limit) at the same size in the same run.

Usage: python benchmarks/scale.py [--sizes 100000,1000000,5000000] [--write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))
from docs_section import publish  # noqa: E402
from evaluate import measure  # noqa: E402
from shop_data import shop_data  # noqa: E402

AS_OF, DAYS = "2026-11-01", 14


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000,5000000")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    import duckdb

    from huitou.evaluate import default_memory_limit

    huitou = str(Path(sys.executable).parent / "huitou")
    rows = []
    for customers in (int(s) for s in args.sizes.split(",")):
        data = shop_data(argparse.Namespace(customers=customers, orders_per_customer=10.0))
        with tempfile.TemporaryDirectory(prefix="huitou-scale-") as tmp:
            out = Path(tmp) / "plan.parquet"
            ours = measure([huitou, "plan", "--data", str(data), "--as-of", AS_OF, "--horizon", f"{DAYS}d", "--out", str(out)], HERE / "project", 1)
            plan_rows, sends = duckdb.sql(f"SELECT count(*), count(*) FILTER (WHERE status = 'send') FROM read_parquet('{out}')").fetchall()[0]
            floor = measure([sys.executable, str(HERE / "floor_plan.py"), str(data), AS_OF, str(out), str(Path(tmp) / "floor.jsonl")], ROOT, 1)
        orders = duckdb.sql(f"SELECT count(*) FROM read_parquet('{data / 'orders.parquet'}')").fetchall()[0][0]
        rows.append((customers, orders, plan_rows, sends, ours, floor))
        print(customers, ours[:2], floor[:2], flush=True)
    base = rows[0]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, DuckDB {duckdb.__version__}"
    lines = [
        "## plan scaling",
        "",
        f"Run: `make bench-scale` (benchmarks/scale.py) on {dt.date.today().isoformat()}; {machine}; huitou's default memory limit ({default_memory_limit()}).",
        f"The 20-rule benchmark project, {DAYS}-day horizon from {AS_OF}, one run per size, each command a separate process. The floor is the plan benchmark's "
        "(hand-written DuckDB SQL for the features and a plain Jinja loop over huitou's sends, one process, DuckDB's own memory limit) at the same size.",
        "",
        "| customers | orders | plan rows | sent | `huitou plan` s | peak MiB | floor s | plan / floor | s per 1M customers |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *[
            f"| {c:,} | {o:,} | {r:,} | {s:,} | {ours[0]:.1f} | {ours[1]:,.0f} | {floor[0]:.1f} | {ours[0] / floor[0]:.1f} | {ours[0] / c * 1e6:.1f} |"
            for c, o, r, s, ours, floor in rows
        ],
        "",
        f"From {base[0]:,} to {rows[-1][0]:,} customers ({rows[-1][0] / base[0]:.0f}x) the plan took {rows[-1][4][0] / base[4][0]:.1f}x the time and "
        f"{rows[-1][4][1] / base[4][1]:.1f}x the peak memory.",
        "",
    ]
    publish(lines, args.write)


if __name__ == "__main__":
    main()
