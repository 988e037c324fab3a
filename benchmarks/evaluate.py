"""Benchmark evaluation: `huitou segments` on a 20-rule playbook against the floor and a peer.

In one run, on the same Parquet files (benchmarks/synth.py; generated once into
benchmarks/.data/), each as its own process, median of --repeat runs, peak RSS:
  (a) floor  - benchmarks/floor_duckdb.py: hand-written DuckDB SQL, features + 20 predicates;
  (b) huitou - `huitou segments` end to end (start-up, validation, data checks, quarantine
               report, features, 20 rule segments and the lifecycle stages);
  (c) peer   - benchmarks/peer_pandas.py: the same in pandas;
  (d) huitou - `huitou segments` with one more rule on p_alive (`p_alive < 0.3 AND
               total_spent >= 500`): (b) plus fitting BG/NBD and Gamma-Gamma on every
               customer's history and scoring them (target: within 15 s).
The three must report identical counts for the 20 predicates, or the run fails.
A phase breakdown of (b), measured in-process, shows where huitou's extra time goes.

Usage: python benchmarks/evaluate.py [--customers 1000000] [--repeat 3] [--write]
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from docs_section import publish  # noqa: E402
from shop_data import arguments, shop_data  # noqa: E402

AS_OF = "2026-11-01"
SLIPPING = """version: 1
name: slipping
timezone: Asia/Shanghai
locale: zh-CN
rules:
  - {id: valuable-slipping, intent: care, segment: p_alive < 0.3 AND total_spent >= 500, when: {immediate: true}, channel: sms, template: sms/comeback.j2}
"""


def measure(cmd: list[str], cwd: Path, repeat: int) -> tuple[float, float, str]:
    """Median wall seconds and the largest peak RSS (MiB) over `repeat` runs."""
    walls, peaks, out = [], [], ""
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        out = proc.stdout.read() if proc.stdout else ""
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - start)
        if status != 0:
            raise SystemExit(f"{' '.join(cmd)} failed with status {status}")
        peaks.append(usage.ru_maxrss / 1024)
    return statistics.median(walls), max(peaks), out


def phases(data: Path) -> list[tuple[str, float]]:
    """Where `huitou segments` spends its time, in-process (imports excluded)."""
    os.chdir(HERE / "project")
    sys.path.insert(0, str(ROOT / "src"))
    import duckdb

    from huitou.data import load
    from huitou.data.identity import ContactReport, Identity, normalise_contacts
    from huitou.data.sources import resolve
    from huitou.evaluate import DataSession, _purchase_days, segment_counts
    from huitou.feature_sql import summary_sql
    from huitou.validate import validate_paths

    out = []
    t = time.perf_counter()
    result = validate_paths([])
    out.append(("validate the playbook", time.perf_counter() - t))
    project = result.playbooks[0].project
    orders, customers = resolve(project.config, project.root, data_dir=data)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    identity, contacts = Identity.from_config(project.config), ContactReport()
    t = time.perf_counter()
    load.load_customers(con, customers, identity, contacts)  # type: ignore[arg-type]
    out.append(("customers: checks, duplicate ids, report", time.perf_counter() - t))
    t = time.perf_counter()
    normalise_contacts(con, identity, contacts)
    out.append(("customers: phones and emails normalised (E.164, lower case)", time.perf_counter() - t))
    t = time.perf_counter()
    as_of = dt.date.fromisoformat(AS_OF)
    report = load.load_orders(
        con, orders, timezone="Asia/Shanghai", today=dt.date.today(), known_customers=True, identity=identity, contacts=contacts
    )
    out.append(("orders: ids' spellings (one pass of byte tests), duplicate order ids (hashes of the id column, sorted)", time.perf_counter() - t))
    t = time.perf_counter()
    con.execute(summary_sql(as_of, _purchase_days(con, as_of, True)))
    out.append(("orders: per-customer aggregates and row verdicts, one pass", time.perf_counter() - t))
    t = time.perf_counter()
    load.summary_report(con, report, known_customers=True)
    out.append(("orders: load report (usable rows, orders of unknown customers)", time.perf_counter() - t))
    t = time.perf_counter()
    segment_counts(DataSession(con, as_of, "Asia/Shanghai", {}), result.playbooks)
    out.append(("features + 20 rules + lifecycle over the summary, one query", time.perf_counter() - t))
    from huitou.data.load import loaded
    from huitou.forecast.fit import fit, score

    t = time.perf_counter()
    fitted = fit(loaded(con).orders, as_of)
    out.append((f"(d) purchase histories, BG/NBD and Gamma-Gamma fits ({fitted.customers:,} customers)", time.perf_counter() - t))
    t = time.perf_counter()
    score(con, fitted)
    out.append(("(d) scores: p_alive, expected_orders_90d, expected_spend_90d", time.perf_counter() - t))
    return out


def main() -> None:
    args = arguments(repeat=3)
    data = shop_data(args)
    py = sys.executable
    huitou = str(Path(py).parent / "huitou")
    floor = measure([py, str(HERE / "floor_duckdb.py"), str(data), AS_OF], ROOT, args.repeat)
    ours = measure([huitou, "segments", "--data", str(data), "--as-of", AS_OF, "--format", "json"], HERE / "project", args.repeat)
    peer = measure([py, str(HERE / "peer_pandas.py"), str(data), AS_OF], ROOT, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        shutil.copytree(HERE / "project", project)
        (project / "rules" / "slipping.yaml").write_text(SLIPPING, encoding="utf-8")
        fitted = measure([huitou, "segments", "--data", str(data), "--as-of", AS_OF, "--format", "json"], project, args.repeat)

    floor_counts = json.loads(floor[2])["counts"]
    peer_counts = json.loads(peer[2])["counts"]
    doc = json.loads(ours[2])
    our_counts = [c["customers"] for c in doc["counts"] if c["kind"] == "rule"]
    if not (floor_counts == our_counts == peer_counts):
        raise SystemExit(f"counts differ:\nfloor  {floor_counts}\nhuitou {our_counts}\npandas {peer_counts}")
    with_fit = [c["customers"] for c in json.loads(fitted[2])["counts"] if c["kind"] == "rule" and c["playbook"] != "slipping"]
    if with_fit != our_counts:
        raise SystemExit(f"(d) changed the 20 counts: {with_fit}")
    import pyarrow.parquet as pq

    orders = pq.ParquetFile(data / "orders.parquet").metadata.num_rows
    breakdown = phases(data)

    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, DuckDB {__import__('duckdb').__version__}, pandas {__import__('pandas').__version__}"
    lines = [
        "## evaluate",
        "",
        f"Run: `make bench` (benchmarks/evaluate.py) on {dt.date.today().isoformat()}; {machine}.",
        f"Workload: {doc['customers']:,} customers, {orders:,} orders (Parquet, benchmarks/synth.py), 20 rules (benchmarks/project/rules/bench20.yaml), as of {AS_OF}; each command a separate process, median of {args.repeat} runs, peak resident memory of the process.",
        "The three agree on all 20 counts (the run fails otherwise).",
        "",
        "| what | seconds | peak memory | ratio |",
        "|---|---:|---:|---|",
        f"| (a) floor: hand-written DuckDB SQL, features + 20 predicates | {floor[0]:.2f} | {floor[1]:,.0f} MiB | |",
        f"| (b) `huitou segments`, end to end | {ours[0]:.2f} | {ours[1]:,.0f} MiB | b/a = {ours[0] / floor[0]:.2f} |",
        f"| (c) pandas peer | {peer[0]:.2f} | {peer[1]:,.0f} MiB | c/b = {peer[0] / ours[0]:.2f} |",
        f"| (d) (b) with a rule on `p_alive`: BG/NBD and Gamma-Gamma fitted and scored | {fitted[0]:.2f} | {fitted[1]:,.0f} MiB | d/a = {fitted[0] / floor[0]:.2f}; d - b = {fitted[0] - ours[0]:.2f} s |",
        "",
        "Where (b) spends its time (in-process, same data):",
        "",
        "| phase | seconds |",
        "|---|---:|",
        *[f"| {name} | {secs:.2f} |" for name, secs in breakdown],
        "",
    ]
    publish(lines, args.write)


if __name__ == "__main__":
    main()
