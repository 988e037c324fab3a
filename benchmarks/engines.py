"""The same `huitou plan` on DuckDB, Spark local[2] and PostgreSQL: time, peak memory and
whether the plan files agree. The 20-rule benchmark project over the synthetic shop
(benchmarks/synth.py, cached in benchmarks/.data/), 10 orders a customer; each engine a
separate command. The floor is the DuckDB plan of the same run.

Memory is the peak of the summed proportional set size (PSS, shared pages split among the
processes sharing them) of huitou and its children (Spark's JVM) and, for PostgreSQL, of
the server's processes, sampled every 0.2 s from /proc (Linux only).

PostgreSQL: the server HUITOU_PG_URL names, else a throwaway cluster of Debian's server
binaries on a Unix socket (as tests/engines.py starts it; shared_buffers 1GB, work_mem
256MB, fsync off).

Usage: python benchmarks/engines.py [--customers 1000000] [--engines duckdb,spark,postgres] [--write]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
from docs_section import publish  # noqa: E402
from shop_data import shop_data  # noqa: E402

AS_OF, DAYS = "2026-11-01", 14
SPARK = {"kind": "spark", "master": "local[2]", "conf": {"spark.driver.memory": "6g"}}


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(_children(p))
    return out


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_measured(cmd: list[str], cwd: Path, env: dict[str, str], also: list[int]) -> tuple[float, float]:
    """Wall seconds and peak MiB (PSS) of the command's process tree plus the trees of `also`."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        pids = {p for root in [proc.pid, *also] for p in _tree(root)}
        peak = max(peak, sum(_pss_kib(p) for p in pids))
        time.sleep(0.2)
    wall = time.perf_counter() - start
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err}")
    return wall, peak / 1024


@contextlib.contextmanager
def postgres() -> Iterator[tuple[str, int | None]]:
    """A connection URL and the server's postmaster pid (None for a server not ours)."""
    if os.environ.get("HUITOU_PG_URL"):
        yield os.environ["HUITOU_PG_URL"], None
        return
    from tests.engines import postgres_bin

    bindir = postgres_bin()
    if bindir is None:
        raise SystemExit("no PostgreSQL: apt-get install postgresql, or set HUITOU_PG_URL")
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    home = Path(tempfile.mkdtemp(prefix="huitou-bench-pg-"))
    if as_user:
        shutil.chown(home, "postgres")
    data = home / "data"
    subprocess.run(
        [
            *as_user,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "huitou",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale",
            "C.UTF-8",
        ],
        check=True,
        capture_output=True,
    )
    options = f"-k {home} -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c shared_buffers=1GB -c work_mem=256MB"
    subprocess.run(
        [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(home / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
        yield f"host={home} user=huitou dbname=postgres", pid
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def _project(tmp: Path) -> Path:
    """The benchmark project with huitou.yaml naming a Spark engine (--engine picks the kind)."""
    import yaml

    project = tmp / "project"
    shutil.copytree(HERE / "project", project)
    config = project / "huitou.yaml"
    config.write_text(config.read_text(encoding="utf-8") + "\n" + yaml.safe_dump({"engine": SPARK}, default_flow_style=False), encoding="utf-8")
    return project


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--engines", default="duckdb,spark,postgres")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    import duckdb

    kinds = args.engines.split(",")
    huitou = str(Path(sys.executable).parent / "huitou")
    data = shop_data(argparse.Namespace(customers=args.customers, orders_per_customer=10.0))
    orders = duckdb.sql(f"SELECT count(*) FROM read_parquet('{data / 'orders.parquet'}')").fetchall()[0][0]
    results = {}
    with tempfile.TemporaryDirectory(prefix="huitou-engines-") as tmp, postgres() as (url, server):
        project = _project(Path(tmp))
        env = {**os.environ, "HUITOU_PG_URL": url, "XDG_STATE_HOME": str(Path(tmp) / "state")}
        for kind in kinds:
            out = Path(tmp) / f"plan-{kind}.parquet"
            cmd = [huitou, "plan", "--engine", kind, "--data", str(data), "--as-of", AS_OF, "--horizon", f"{DAYS}d", "--out", str(out)]
            wall, peak = run_measured(cmd, project, env, [server] if kind == "postgres" and server else [])
            digest = hashlib.sha256(out.read_bytes()).hexdigest()
            rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{out}')").fetchall()[0][0]
            differ = 0
            if kind != kinds[0]:
                first = Path(tmp) / f"plan-{kinds[0]}.parquet"
                differ = duckdb.sql(
                    f"SELECT count(*) FROM ((FROM read_parquet('{out}') EXCEPT ALL FROM read_parquet('{first}')) "
                    f"UNION ALL (FROM read_parquet('{first}') EXCEPT ALL FROM read_parquet('{out}')))"
                ).fetchall()[0][0]
            results[kind] = (wall, peak, rows, digest, differ)
            print(kind, f"{wall:.1f} s", f"{peak:,.0f} MiB", rows, digest[:12], differ, flush=True)
    floor = results[kinds[0]]
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, {_ram()} RAM, Python {platform.python_version()}, DuckDB {duckdb.__version__}, {_versions()}"
    )
    lines = [
        "## engines",
        "",
        f"Run: `make bench-engines` (benchmarks/engines.py) on {dt.date.today().isoformat()}; {machine}.",
        f"`huitou plan --engine KIND` of the 20-rule benchmark project over {args.customers:,} customers and {orders:,} orders, {DAYS}-day horizon from {AS_OF}, "
        "one run each, a separate process each. On Spark and PostgreSQL the features, the candidates, their ranking, the decisions and the rows' order are "
        "computed on the engine; arbitration's greedy runs on Spark's workers (a grouped map) or, for PostgreSQL, in huitou's process over partitions streamed "
        "out, the verdicts copied back; rendering and the plan file are huitou's (docs/engines.md). Memory: the peak summed PSS of huitou, its children (Spark's JVM, driver memory 6g) and the PostgreSQL server's processes "
        "(shared_buffers 1GB, work_mem 256MB). The floor is the DuckDB plan of the same run.",
        "",
        "| engine | `huitou plan` s | peak MiB | x DuckDB time | plan rows | rows differing from DuckDB | same file bytes |",
        "|---|---:|---:|---:|---:|---:|---|",
        *[
            f"| {k} | {w:.1f} | {p:,.0f} | {w / floor[0]:.1f} | {r:,} | {d:,} | {'yes' if h == floor[3] else 'no'} |"
            for k, (w, p, r, h, d) in results.items()
        ],
        "",
    ]
    publish(lines, args.write)


def _ram() -> str:
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return f"{pages / 1024**3:.0f} GiB"


def _versions() -> str:
    from importlib.metadata import version

    found = []
    for name in ("pyspark", "psycopg"):
        with contextlib.suppress(Exception):
            found.append(f"{name} {version(name)}")
    server = subprocess.run(["bash", "-c", "ls /usr/lib/postgresql"], capture_output=True, text=True).stdout.split()
    return ", ".join(found + ([f"PostgreSQL {max(server, key=int)}"] if server else []))


if __name__ == "__main__":
    main()
