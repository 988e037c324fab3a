"""Benchmark planning: `huitou plan` end to end against the floor and a peer.

In one run, on the same Parquet files (benchmarks/synth.py, cached in benchmarks/.data/),
the 20-rule project benchmarks/project (mixed timings, four channels, two caps,
care-first, holdout), a 14-day horizon, each as its own process, median of --repeat runs,
peak resident memory of the process and the processes it waited for:
  (b) huitou - `huitou plan --out plan.parquet`, end to end (start-up, validation, data
               checks, features, candidates, arbitration, rendering, the Parquet plan),
               with huitou's default memory limit and again with DuckDB's own (80% of RAM),
               and again with `--html page.html` beside the plan file (the page's cost,
               its size, and how long Chromium takes to open it);
  (a) floor  - benchmarks/floor_plan.py: the features in hand-written DuckDB SQL joined to
               (b)'s sends, and a plain Jinja loop rendering them in one process;
  (c) peer   - benchmarks/peer_plan.py: pandas features and candidates, a Python loop for
               caps and care-first, a Jinja loop for the messages.
(b) and (c) must send the same number of messages for each of the 20 rules, and (a) must
render as many as (b) sends, or the run fails. The phases of (b), measured in-process,
show where its time goes, and rendering throughput is compared with (a)'s plain loop.

Usage: python benchmarks/plan.py [--customers 1000000] [--repeat 1] [--write]
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from docs_section import publish  # noqa: E402
from evaluate import measure  # noqa: E402
from shop_data import arguments, shop_data  # noqa: E402

AS_OF, DAYS = "2026-11-01", 14


def duckdb_own_limit() -> str:
    """DuckDB's own default memory limit, 80% of the machine: (b) again with it shows what
    huitou's default (a tenth, at least 2 GiB; docs/engines.md) costs in time."""
    sys.path.insert(0, str(ROOT / "src"))
    from huitou.evaluate import machine_memory

    return f"{int((machine_memory() or 0) * 0.8) // 1024**2}MiB"


def phases(data: Path) -> tuple[dict[str, float], int]:
    """Seconds per stage of build_plan, in-process (imports and data loading excluded)."""
    sys.path.insert(0, str(ROOT / "src"))
    from huitou.plan.run import run_plan

    plan = run_plan(HERE / "project", dt.date.fromisoformat(AS_OF), DAYS, data_dir=data)
    sends = int(plan.con.execute("SELECT count(*) FROM plan WHERE status = 'send'").fetchone()[0])  # type: ignore[index]
    return plan.timings, sends


def open_seconds(page: Path, profile: Path) -> float:
    """Seconds from navigating headless Chromium to the page until its load event."""
    import time

    sys.path.insert(0, str(ROOT))
    from tests.browser import Browser

    browser = Browser(profile)
    try:
        start = time.perf_counter()
        browser.open(page.as_uri())
        seconds = time.perf_counter() - start - 0.3  # open() waits 300 ms after the load event for late errors
        if browser.problems(page.as_uri()):
            raise SystemExit(f"the page has problems in Chromium: {browser.problems(page.as_uri())}")
        return seconds
    finally:
        browser.close()


def chromium_version() -> str:
    import subprocess

    from tests.browser import CHROMIUM

    return subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    args = arguments(repeat=1)
    data = shop_data(args)
    py = sys.executable
    huitou = str(Path(py).parent / "huitou")
    with tempfile.TemporaryDirectory(prefix="huitou-bench-") as tmp:
        plan_file, floor_out, peer_out = Path(tmp) / "plan.parquet", Path(tmp) / "floor.jsonl", Path(tmp) / "peer.jsonl"
        command = [huitou, "plan", "--data", str(data), "--as-of", AS_OF, "--horizon", f"{DAYS}d", "--out", str(plan_file)]
        ours = measure(command, HERE / "project", args.repeat)
        limit = duckdb_own_limit()
        unbounded = measure([*command, "--memory-limit", limit], HERE / "project", args.repeat)
        page = Path(tmp) / "page.html"
        with_page = measure([*command, "--html", str(page)], HERE / "project", args.repeat)
        page_mib, opened = page.stat().st_size / 1024**2, open_seconds(page, Path(tmp) / "profile")
        floor = measure([py, str(HERE / "floor_plan.py"), str(data), AS_OF, str(plan_file), str(floor_out)], ROOT, args.repeat)
        peer = measure([py, str(HERE / "peer_plan.py"), str(data), AS_OF, str(DAYS), str(peer_out)], ROOT, args.repeat)
        import duckdb

        con = duckdb.connect()
        ours_per_rule = dict(
            con.execute(f"SELECT rule_id, count(*) FILTER (WHERE status = 'send') FROM read_parquet('{plan_file}') GROUP BY ALL").fetchall()
        )
        rows, holdout = con.execute(f"SELECT count(*), count(*) FILTER (WHERE status = 'holdout') FROM read_parquet('{plan_file}')").fetchone()  # type: ignore[misc]
    peer_per_rule = json.loads(peer[2])["sends"]
    ours_per_rule = {rule: ours_per_rule.get(rule, 0) for rule in peer_per_rule}
    if ours_per_rule != peer_per_rule:
        raise SystemExit(f"sends per rule differ:\nhuitou {ours_per_rule}\npandas {peer_per_rule}")
    sends = sum(ours_per_rule.values())
    floor_doc = json.loads(floor[2])
    if floor_doc["messages"] != sends:
        raise SystemExit(f"the floor rendered {floor_doc['messages']} messages, huitou sends {sends}")
    timings, phase_sends = phases(data)
    render = timings["rendering the sends"]

    import pyarrow.parquet as pq

    from huitou.evaluate import default_memory_limit

    orders = pq.ParquetFile(data / "orders.parquet").metadata.num_rows
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, DuckDB {duckdb.__version__}, pandas {__import__('pandas').__version__}, Jinja2 {__import__('jinja2').__version__}"
    lines = [
        "## plan",
        "",
        f"Run: `make bench` (benchmarks/plan.py) on {dt.date.today().isoformat()}; {machine}.",
        f"Workload: {args.customers:,} customers, {orders:,} orders (Parquet, benchmarks/synth.py), 20 rules (benchmarks/project: mixed timings, sms/email/wechat/phone, two caps, care-first, 5% holdout), {DAYS}-day horizon from {AS_OF}: "
        f"{rows:,} plan rows, {sends:,} messages sent and rendered, {holdout:,} holdout. Each command a separate process, median of {args.repeat} run(s), peak resident memory of the process and its workers.",
        "huitou and the peer send the same number of messages for each of the 20 rules, and the floor renders as many (the run fails otherwise).",
        "",
        "| what | seconds | peak memory | ratio |",
        "|---|---:|---:|---|",
        f"| (a) floor: hand-written DuckDB SQL features + a plain Jinja loop over (b)'s sends, one process | {floor[0]:.2f} | {floor[1]:,.0f} MiB | |",
        f"| (b) `huitou plan --out plan.parquet`, end to end (default memory limit, {default_memory_limit()}) | {ours[0]:.2f} | {ours[1]:,.0f} MiB | b/a = {ours[0] / floor[0]:.2f} |",
        f"| (b) with `--memory-limit {limit}` (DuckDB's own default, 80% of RAM) | {unbounded[0]:.2f} | {unbounded[1]:,.0f} MiB | b/a = {unbounded[0] / floor[0]:.2f}; the default costs {ours[0] / unbounded[0] - 1:+.0%} |",
        f"| (b) with `--html page.html` as well (the plan's page) | {with_page[0]:.2f} | {with_page[1]:,.0f} MiB | the page adds {with_page[0] / ours[0] - 1:+.1%} |",
        f"| (c) peer: pandas + a Python loop for caps + a Jinja loop | {peer[0]:.2f} | {peer[1]:,.0f} MiB | c/b = {peer[0] / ours[0]:.2f} |",
        "",
        f"The plan's page: {page_mib:.2f} MiB; headless Chromium ({chromium_version()}) opens it, from navigation to the load event, in {opened:.2f} s.",
        "",
        f"Rendering: huitou {phase_sends / render:,.0f} messages/s ({phase_sends:,} in {render:.2f} s, SQL to select them and writing them back included) against the floor's plain loop "
        f"{floor_doc['messages'] / floor_doc['loop_seconds']:,.0f} messages/s ({floor_doc['loop_seconds']:.2f} s for the loop alone): {floor_doc['loop_seconds'] / render:.2f}x.",
        "",
        "Where (b) spends its time (in-process, after loading the data):",
        "",
        "| stage | seconds |",
        "|---|---:|",
        *[f"| {name} | {secs:.2f} |" for name, secs in timings.items()],
        "",
    ]
    publish(lines, args.write)


if __name__ == "__main__":
    main()
