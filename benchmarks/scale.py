"""How `huitou plan` grows with the shop: the same 20-rule project over 100,000, 1M, 5M and
10M customers (10 orders each, benchmarks/synth.py, made a chunk at a time and cached in
benchmarks/.data/), each size a separate process with huitou's default memory limit,
against the plan benchmark's floor (benchmarks/floor_plan.py: the features in
hand-written DuckDB SQL and a plain Jinja loop over huitou's sends, DuckDB's own memory
limit) at the same size in the same run.

Checked at every size, or the run fails: the pandas peer (benchmarks/peer_plan.py, which
decides every customer on their own data alone) sends the same messages per rule as
huitou to the shop's last SHARD customers, given only their rows; and the largest size is
planned twice, the two plan files byte-identical.

Usage: python benchmarks/scale.py [--sizes 100000,1000000,5000000,10000000] [--shard 200000] [--write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
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


def digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 24):
            sha.update(block)
    return sha.hexdigest()


def shard_agrees(con: object, data: Path, customers: int, shard: int, plan: Path, tmp: Path) -> int:
    """The peer over the last `shard` customers' rows alone sends what huitou's plan sends
    them, rule by rule (the run fails otherwise); the sends compared."""
    first = max(1, customers - shard + 1)
    part = tmp / "shard"
    part.mkdir()
    for name in ("customers", "orders"):
        con.execute(  # type: ignore[attr-defined]
            f"COPY (SELECT * FROM read_parquet('{data / name}.parquet') WHERE CAST(customer_id AS BIGINT) >= {first}) TO '{part / name}.parquet' (FORMAT parquet)"
        )
    peer = measure([sys.executable, str(HERE / "peer_plan.py"), str(part), AS_OF, str(DAYS), str(tmp / "peer.jsonl")], ROOT, 1)
    theirs = json.loads(peer[2])["sends"]
    ours = dict(
        con.execute(  # type: ignore[attr-defined]
            f"SELECT rule_id, count(*) FROM read_parquet('{plan}') WHERE status = 'send' AND CAST(customer_id AS BIGINT) >= {first} GROUP BY rule_id"
        ).fetchall()
    )
    ours = {rule: ours.get(rule, 0) for rule in theirs}
    if ours != theirs:
        raise SystemExit(f"sends per rule to customers from {first:,} on differ:\nhuitou {ours}\npandas {theirs}")
    return sum(ours.values())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000,5000000,10000000")
    parser.add_argument("--shard", type=int, default=200_000, help="customers the pandas peer checks at each size")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    import duckdb

    from huitou.evaluate import default_memory_limit

    huitou = str(Path(sys.executable).parent / "huitou")
    sizes = [int(s) for s in args.sizes.split(",")]
    rows, twice, checked = [], "", []
    con = duckdb.connect()
    for customers in sizes:
        data = shop_data(argparse.Namespace(customers=customers, orders_per_customer=10.0))
        with tempfile.TemporaryDirectory(prefix="huitou-scale-") as name:
            tmp = Path(name)
            out = tmp / "plan.parquet"
            command = [huitou, "plan", "--data", str(data), "--as-of", AS_OF, "--horizon", f"{DAYS}d", "--out"]
            ours = measure([*command, str(out)], HERE / "project", 1)
            plan_rows, sends = con.execute(f"SELECT count(*), count(*) FILTER (WHERE status = 'send') FROM read_parquet('{out}')").fetchall()[0]
            floor = measure([sys.executable, str(HERE / "floor_plan.py"), str(data), AS_OF, str(out), str(tmp / "floor.jsonl")], ROOT, 1)
            checked.append(shard_agrees(con, data, customers, args.shard, out, tmp))
            if customers == sizes[-1]:
                again = measure([*command, str(tmp / "again.parquet")], HERE / "project", 1)
                if digest(out) != digest(tmp / "again.parquet"):
                    raise SystemExit(f"two plans of the {customers:,}-customer shop differ")
                twice = (
                    f"planned twice, {ours[0]:.1f} s and {again[0]:.1f} s: the two plan files byte-identical ({out.stat().st_size / 2**20:,.0f} MiB)"
                )
        orders = con.execute(f"SELECT count(*) FROM read_parquet('{data / 'orders.parquet'}')").fetchall()[0][0]
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
        "| customers | orders | plan rows | sent | `huitou plan` s | peak MiB | floor s | floor peak MiB | plan / floor | s per 1M customers |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *[
            f"| {c:,} | {o:,} | {r:,} | {s:,} | {ours[0]:.1f} | {ours[1]:,.0f} | {floor[0]:.1f} | {floor[1]:,.0f} | {ours[0] / floor[0]:.2f} | {ours[0] / c * 1e6:.1f} |"
            for c, o, r, s, ours, floor in rows
        ],
        "",
        f"From {base[0]:,} to {rows[-1][0]:,} customers ({rows[-1][0] / base[0]:.0f}x) the plan took {rows[-1][4][0] / base[4][0]:.1f}x the time and "
        f"{rows[-1][4][1] / base[4][1]:.1f}x the peak memory. At {rows[-1][0]:,} customers: {twice}.",
        f"At every size the pandas peer (benchmarks/peer_plan.py), given only the last {args.shard:,} customers' rows, sends them what huitou's plan does, "
        f"rule by rule ({', '.join(f'{n:,}' for n in checked)} messages).",
        "",
    ]
    publish(lines, args.write)


if __name__ == "__main__":
    main()
