"""Benchmark loading exports as they come: a GBK file and a file of line items, each
against the same rows as a plain UTF-8 file of one row per order (the floor, measured in
the same run).

Each is `huitou segments` end to end over a project of that file alone (start-up, the
encoding's transcoding, the load and its checks, the features, the lifecycle counts), its
own process, median of --repeat runs, with its peak resident memory. The three files hold
--rows rows (default 10M) written by DuckDB into benchmarks/.data/exports-<rows>/ once:

  (a) utf8      - one row per order: order_id, customer_id, ordered_at, amount, status, name
                  (Chinese names), UTF-8;
  (b) gbk       - the same bytes as text, in GBK (csv.encoding: gbk);
  (c) items     - one row per line item, 3 to an order (rows/3 orders), Shopify's way: the
                  order's fields on its first row only, sku/product/quantity/price on each.

The counts of (a) and (b) must be equal, and (c) must load rows/3 orders, or the run fails.

Usage: python benchmarks/exports.py [--rows 10000000] [--repeat 1] [--write]
"""

from __future__ import annotations

import argparse
import codecs
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from docs_section import publish  # noqa: E402

AS_OF = "2025-01-01"
BIN = ROOT / ".venv" / "bin" / "huitou"

SINGLE = """
    SELECT 'o' || i AS order_id, 'c' || (hash(i) % :customers) AS customer_id,
           strftime(TIMESTAMP '2024-01-01' + to_seconds(CAST(hash(i * 7) % 31536000 AS BIGINT)), '%Y-%m-%d %H:%M:%S') AS ordered_at,
           CAST(10 + (hash(i * 3) % 90000) / 100 AS DECIMAL(18,2)) AS amount, CASE WHEN i % 10 = 0 THEN 'cancelled' ELSE 'paid' END AS status,
           '王芳' || (i % 100) AS name
    FROM range(:rows) t(i)"""
ITEMS = """
    SELECT 'o' || (i // 3) AS order_id, CASE WHEN i % 3 = 0 THEN 'c' || (hash(i // 3) % :customers) END AS customer_id,
           CASE WHEN i % 3 = 0 THEN strftime(TIMESTAMP '2024-01-01' + to_seconds(CAST(hash(i * 7) % 31536000 AS BIGINT)), '%Y-%m-%d %H:%M:%S') END AS ordered_at,
           CASE WHEN i % 3 = 0 THEN CAST(10 + (hash(i * 3) % 90000) / 100 AS DECIMAL(18,2)) END AS amount,
           CASE WHEN i % 3 = 0 THEN CASE WHEN i % 30 = 0 THEN 'cancelled' ELSE 'paid' END END AS status,
           CASE WHEN i % 3 = 0 THEN '王芳' || (i % 100) END AS name,
           'SKU-' || (hash(i * 11) % 5000) AS sku, '商品' || (hash(i * 11) % 5000) AS product, 1 + i % 2 AS quantity,
           CAST(5 + (hash(i * 13) % 20000) / 100 AS DECIMAL(18,2)) AS price
    FROM range(:rows) t(i)"""


def files(rows: int) -> Path:
    """The three files (made once per row count)."""
    where = HERE / ".data" / f"exports-{rows}"
    if (where / "done").exists():
        return where
    where.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    customers = max(rows // 5, 1)
    for name, query in (("utf8", SINGLE), ("items", ITEMS)):
        sql = query.replace(":customers", str(customers)).replace(":rows", str(rows))
        con.execute(f"COPY ({sql}) TO '{where / name}.csv' (HEADER, DELIMITER ',')")
    decoder, encoder = codecs.getincrementaldecoder("utf-8")(), codecs.getincrementalencoder("gbk")()
    with open(where / "utf8.csv", "rb") as source, open(where / "gbk.csv", "wb") as target:
        while chunk := source.read(1 << 22):
            target.write(encoder.encode(decoder.decode(chunk)))
    (where / "done").write_text("", encoding="utf-8")
    return where


def project(root: Path, data: Path, name: str) -> Path:
    """A project of one orders file (profile names on the orders)."""
    work = root / name
    work.mkdir(parents=True, exist_ok=True)
    options = {"gbk": "\n    csv: {encoding: gbk}", "items": "\n    columns: {}"}.get(name, "")
    (work / "huitou.yaml").write_text(
        f"version: 1\ntimezone: Asia/Shanghai\ndata:\n  orders:\n    path: {data / (name + '.csv')}\n    fields: {{name: string}}{options}\n".replace(
            "\n    columns: {}", ""
        ),
        encoding="utf-8",
    )
    return work


def measure(work: Path, repeat: int) -> tuple[float, float, str]:
    """Median wall seconds, the largest peak RSS (MiB) and the output (stderr, then
    stdout) of the last run."""
    walls, peaks, out = [], [], ""
    for _ in range(repeat):
        with open(work / "out.txt", "w+", encoding="utf-8") as stdout, open(work / "err.txt", "w+", encoding="utf-8") as stderr:
            start = time.perf_counter()
            proc = subprocess.Popen([str(BIN), "segments", "--as-of", AS_OF], cwd=work, stdout=stdout, stderr=stderr, text=True)
            _, status, usage = os.wait4(proc.pid, 0)
            walls.append(time.perf_counter() - start)
            stdout.seek(0)
            stderr.seek(0)
            out = stderr.read() + stdout.read()
        if status != 0:
            raise SystemExit(f"huitou segments in {work} failed: {out[-2000:]}")
        peaks.append(usage.ru_maxrss / 1024)
    return statistics.median(walls), max(peaks), out


def loaded(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("orders:"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--write", action="store_true", help="record the results in docs/benchmarks.md")
    args = parser.parse_args()
    started = time.perf_counter()
    data = files(args.rows)
    made = time.perf_counter() - started
    sizes = {name: (data / f"{name}.csv").stat().st_size / 2**20 for name in ("utf8", "gbk", "items")}
    root = HERE / ".data" / "exports-projects"
    results = {name: measure(project(root, data, name), args.repeat) for name in ("utf8", "gbk", "items")}
    floor = results["utf8"][0]
    if loaded(results["utf8"][2]) != loaded(results["gbk"][2]).replace("gbk.csv", "utf8.csv"):
        raise SystemExit(f"the GBK file loaded otherwise: {loaded(results['gbk'][2])} vs {loaded(results['utf8'][2])}")
    if f", {args.rows // 3 + (args.rows % 3 > 0):,} loaded" not in loaded(results["items"][2]):
        raise SystemExit(f"the line items loaded otherwise: {loaded(results['items'][2])}")
    lines = [
        "## Exports: encodings and line items",
        "",
        f"`huitou segments` over {args.rows:,} rows of CSV, each file its own process, median of {args.repeat}; "
        f"{platform.node() or 'this machine'}, {os.cpu_count()} cores, Python {platform.python_version()}, DuckDB {duckdb.__version__}, "
        f"{dt.date.today().isoformat()}. Files made in {made:.0f} s (once; benchmarks/.data/).",
        "",
        "| file | size | wall | peak RSS | vs. UTF-8 one row per order | loaded |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, label in (
        ("utf8", "UTF-8, one row per order (floor)"),
        ("gbk", "GBK, the same rows (transcoded)"),
        ("items", "UTF-8, one row per line item, 3 an order"),
    ):
        wall, peak, out = results[name]
        lines.append(f"| {label} | {sizes[name]:,.0f} MiB | {wall:.1f} s | {peak:,.0f} MiB | {wall / floor:.2f}x | {loaded(out).split(': ', 1)[1]} |")
    lines += [
        "",
        "- Rerun: `.venv/bin/python benchmarks/exports.py --write` (`make bench` runs it too; 10M rows: about 2.6 GB in benchmarks/.data/).",
        "",
    ]
    publish(lines, args.write)


if __name__ == "__main__":
    main()
