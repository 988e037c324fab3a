"""Benchmark the purchase models: BG/NBD and Gamma-Gamma fitted and scored over 1M
customers, on both shapes of synthetic shop (benchmarks/synth.py: `rhythm`, about ten
orders a customer over three years; `heavy`, heavy-tailed order counts over ten years -
many more distinct (x, t_x, T) histories). In-process, after loading the data (not timed):
the stages as `huitou plan --profile` names them (huitou/profile.py), median of --repeat
runs each, then a check that the scores are sane (p_alive in [0, 1], every customer with a
purchase scored once).

Usage: python benchmarks/forecast.py [--customers 1000000] [--repeat 3] [--write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))
from docs_section import publish  # noqa: E402
from shop_data import shop_data  # noqa: E402

AS_OF = "2026-11-01"
SHAPES = ("rhythm", "heavy")


def stages(data: Path, repeat: int) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Seconds of each stage over `repeat` fits (and what each made) on one shop."""
    from huitou.forecast.fit import fit, score
    from huitou.profile import profiling
    from huitou.workspace import DataOptions, Workspace

    os.chdir(HERE / "project")
    seconds: dict[str, list[float]] = {}
    made: dict[str, str] = {}
    with Workspace.open(playbooks=False) as ws:
        session = ws.load(DataOptions(as_of=AS_OF, data=data), forecast=False, say=False)
        as_of = dt.date.fromisoformat(AS_OF)
        for _ in range(repeat):
            with profiling(True) as profile:
                fitted = fit(session.data.orders, as_of)
                score(session.con, fitted)
            assert profile is not None and fitted.model is not None and fitted.spend is not None
            for stage in profile.stages:
                seconds.setdefault(stage.name, []).append(stage.seconds)
                made[stage.name] = f"{stage.rows:,} {stage.of}" if stage.rows is not None else ""
        scored, low, high = session.con.execute("SELECT count(*), min(p_alive), max(p_alive) FROM customer_forecast").fetchone()
        if scored != fitted.customers or not 0 <= low <= high <= 1:
            raise SystemExit(f"scores: {scored:,} rows for {fitted.customers:,} customers, p_alive in [{low}, {high}]")
        made["fit"] = f"BG/NBD r={fitted.model.r:.4g} alpha={fitted.model.alpha:.4g} a={fitted.model.a:.4g} b={fitted.model.b:.4g}"
    return seconds, made


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    import duckdb

    rows, totals = [], {}
    for shape in SHAPES:
        data = shop_data(argparse.Namespace(customers=args.customers, orders_per_customer=10.0, shape=shape))
        orders = duckdb.sql(f"SELECT count(*) FROM read_parquet('{data / 'orders.parquet'}')").fetchall()[0][0]
        seconds, made = stages(data, args.repeat)
        medians = {name: statistics.median(values) for name, values in seconds.items()}
        totals[shape] = sum(medians.values())
        rows += [f"| {shape} ({orders:,} orders) | {name} | {secs:.2f} | {made[name]} |" for name, secs in medians.items()]
        rows.append(f"| {shape} | **fit and score** | **{totals[shape]:.2f}** | {made['fit']} |")
        print(shape, totals[shape], flush=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, DuckDB {duckdb.__version__}"
    lines = [
        "## forecast",
        "",
        f"Run: `make bench` (benchmarks/forecast.py) on {dt.date.today().isoformat()}; {machine}.",
        f"BG/NBD and Gamma-Gamma fitted and scored over {args.customers:,} customers as of {AS_OF}, in-process after the data is loaded, "
        f"median of {args.repeat} runs per stage; two shapes of shop (benchmarks/synth.py).",
        "",
        "| shop | stage | seconds | rows |",
        "|---|---|---:|---|",
        *rows,
        "",
    ]
    publish(lines, args.write)


if __name__ == "__main__":
    main()
