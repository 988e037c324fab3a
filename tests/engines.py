"""Real PostgreSQL and Spark for the engine tests, started once per test session.

PostgreSQL: Debian's server binaries, a fresh cluster in a temporary directory,
listening on a Unix socket only (no TCP port), fsync off; run as the `postgres` user
when the tests run as root (initdb refuses root). Spark: pyspark's local[2] master.
When either is missing the tests that need it skip locally and fail in CI (CI=true),
where .ci/run installs them.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing: .ci/run should have installed it")
    pytest.skip(f"{what} is not installed here")


def postgres_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parent.parent.name))
    return Path(versions[-1]).parent if versions else None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A connection URL (libpq keyword form) of a throwaway PostgreSQL cluster."""
    bindir = postgres_bin()
    if bindir is None:
        _missing("PostgreSQL (Debian's postgresql package)")
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    home = Path(tempfile.mkdtemp(prefix="huitou-pg-"))
    if as_user:
        shutil.chown(home, "postgres")
    data, log = home / "data", home / "log"
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
    options = f"-k {home} -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start"], check=True, capture_output=True)
    try:
        yield f"host={home} user=huitou dbname=postgres"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def spark_engine() -> Iterator[object]:
    """One SparkEngine (local[2]) for the session: starting the JVM takes ~10 s."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        _missing("pyspark (pip install -e '.[test]')")
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        _missing("Java (Debian's openjdk-17-jre-headless)")
    from huitou.engines.spark_engine import SparkEngine

    engine = SparkEngine()
    try:
        yield engine
    finally:
        engine.close()
