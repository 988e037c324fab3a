"""Benchmark planning many rules: `huitou plan` of one playbook of N copies of a rule over
5 customers, each N a separate process (end to end: start-up, validation, data, candidates,
arbitration, rendering, the plan file), with its peak resident memory.

The floor, measured in the same run, is the same project with one rule: what the
command costs before rules count. The cost of a rule is (time(N) - floor) / (N - 1); that
it stays flat from 300 to 2,000 rules is the claim (planning grows with rules x
customers, not faster). Before candidates were computed 64 rules per statement, 1,500
rules took 106 s and 2,000 ran out of memory (issue 32).

Usage: python benchmarks/rules.py [--rules 300,1500,2000] [--write]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from docs_section import publish  # noqa: E402

AS_OF = "2026-11-02"
CONFIG = {
    "version": 1,
    "name": "rules-bench",
    "default_locale": "zh-CN",
    "timezone": "Asia/Shanghai",
    "data": {"orders": {"path": "orders.csv"}, "customers": {"path": "customers.csv"}},
    "channels": {"phone": {"outbox": "out/calls"}},
}
RULE = {
    "segment": "order_count >= 1",
    "when": {"immediate": True},
    "intent": "service",
    "channel": "phone",
    "template": "phone/t.j2",
    "lawful_basis": "contract",
}


def make_project(root: Path, rules: int) -> None:
    (root / "rules").mkdir(parents=True)
    (root / "templates" / "zh-CN" / "phone").mkdir(parents=True)
    (root / "huitou.yaml").write_text(yaml.safe_dump(CONFIG, allow_unicode=True), encoding="utf-8")
    playbook = {
        "version": 1,
        "name": "many",
        "timezone": "Asia/Shanghai",
        "locale": "zh-CN",
        "rules": [{"id": f"r{i}", **RULE} for i in range(rules)],
    }
    (root / "rules" / "many.yaml").write_text(yaml.safe_dump(playbook, allow_unicode=True), encoding="utf-8")
    (root / "templates" / "zh-CN" / "phone" / "t.j2").write_text("客户：{{ customer.name }}\n话术：问候。", encoding="utf-8")
    with open(root / "customers.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_id", "name", "phone"])
        writer.writerows([[f"c{i}", f"客户{i}", f"1380000000{i}"] for i in range(5)])
    with open(root / "orders.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "customer_id", "ordered_at", "amount"])
        writer.writerows([[f"o{i}", f"c{i}", "2026-11-01 10:00:00", "10"] for i in range(5)])


def run_plan(rules: int) -> tuple[float, int, int]:
    """Seconds, peak resident MiB and plan rows of `huitou plan` over `rules` rules."""
    with tempfile.TemporaryDirectory(prefix="huitou-rules-") as tmp:
        root = Path(tmp) / "shop"
        make_project(root, rules)
        huitou = str(Path(sys.executable).parent / "huitou")
        started = time.perf_counter()
        done = subprocess.run([huitou, "plan", "--as-of", AS_OF, "--horizon", "1d", "--out", "plan.jsonl"], cwd=root, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"huitou plan failed over {rules} rules: {done.stderr}")
        rows = len((root / "plan.jsonl").read_text(encoding="utf-8").splitlines())
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024  # the largest child so far
    return seconds, peak, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rules", default="300,1500,2000")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    import duckdb

    floor, _, _ = run_plan(1)
    lines = [
        "## many rules",
        "",
        f"Run: `python benchmarks/rules.py --write` on {dt.date.today()}; {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, DuckDB {duckdb.__version__}.",
        "One playbook of N copies of an immediate rule over 5 customers (one order each), `huitou plan` end to end, each N a separate process. "
        f"The floor is the same project with one rule, measured in the same run: {floor:.1f} s.",
        "",
        "| rules | plan rows | `huitou plan` s | peak MiB (largest so far) | s per rule above the floor |",
        "|---:|---:|---:|---:|---:|",
    ]
    for rules in (int(n) for n in args.rules.split(",")):
        seconds, peak, rows = run_plan(rules)
        if rows != rules * 5:
            raise SystemExit(f"{rules} rules over 5 customers planned {rows} rows, not {rules * 5}")
        lines.append(f"| {rules:,} | {rows:,} | {seconds:.1f} | {peak:,} | {(seconds - floor) / (rules - 1) * 1000:.1f} ms |")
    lines += [
        "",
        "Before issue 32 (candidates of every rule in one statement, a UNION nested as deep as the rules): 1,500 rules took 106 s and 2,000 ran out of memory.",
    ]
    publish(lines, args.write)


if __name__ == "__main__":
    main()
