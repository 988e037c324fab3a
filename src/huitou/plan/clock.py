"""Local send times as instants, decided by huitou rather than by an engine's timezone
database (docs/plan.md#clock-changes).

A send is planned in the customer's local time; the instant and the UTC offset come
from Python's zoneinfo for each distinct (zone, local time) pair, and the candidates
join that table. Engines disagree at clock changes (DuckDB took the later of a repeated
hour, Spark the earlier) and on which zone names exist; this way there is one answer.
The rule is RFC 5545's: a local time the clocks skip is read with the offset before
the change (02:30 on a spring-forward night goes out at 03:30), and a local time that
happens twice is the first of the two.

>>> instant("America/New_York", dt.datetime(2026, 11, 1, 1, 30))
(1793511000, -240)
>>> instant("America/New_York", dt.datetime(2026, 3, 8, 2, 30))
(1772955000, -300)
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo

import duckdb
import numpy

from ..db import ident, register_columns


@functools.lru_cache(maxsize=1024)
def zone(name: str) -> zoneinfo.ZoneInfo | None:
    """The zone called `name`, None when there is none (or the name is not a zone name)."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError, OSError):
        return None


def instant(zone_name: str, local: dt.datetime) -> tuple[int, int]:
    """The epoch second and the offset east of UTC in minutes of `local` in the zone."""
    at = local.replace(tzinfo=zone(zone_name), fold=0)
    offset = at.utcoffset() or dt.timedelta(0)
    return int(at.timestamp()), int(offset.total_seconds()) // 60


def valid_zones(con: duckdb.DuckDBPyConnection, names: str, zones: str) -> None:
    """CREATE `zones`(name): those of the distinct names that query `names` selects
    which are zones (a customer's own zone counts only then)."""
    found = [row[0] for row in con.execute(f"SELECT DISTINCT name FROM ({names}) WHERE name IS NOT NULL").fetchall()]
    valid = numpy.array(sorted(n for n in found if zone(n) is not None), dtype=object)
    register_columns(con, f"{zones}_found", {"name": valid})
    con.execute(f"CREATE OR REPLACE TEMP TABLE {ident(zones)} AS SELECT CAST(name AS VARCHAR) AS name FROM {ident(zones + '_found')}")
    con.unregister(f"{zones}_found")


def create_clock(con: duckdb.DuckDBPyConnection, candidates: str, clock: str) -> None:
    """CREATE `clock` (tz, send_local, send_utc, utc_offset): for every zone and every local send time of the query
    `candidates` (columns tz, send_local), the instant (epoch seconds) and the offset.
    Every zone is paired with every time, so a send moved to another candidate's time
    (a promotion after the day's care touch) finds its instant too: zones and times are
    few (the zones in play, the days of the horizon times the send times)."""
    zones = [row[0] for row in con.execute(f"SELECT DISTINCT tz FROM ({candidates}) WHERE tz IS NOT NULL ORDER BY tz").fetchall()]
    times = [row[0] for row in con.execute(f"SELECT DISTINCT send_local FROM ({candidates}) WHERE send_local IS NOT NULL ORDER BY send_local").fetchall()]
    tz, local, utc, offset = [], [], [], []
    for name in zones:
        for t in times:
            seconds, minutes = instant(name, t)
            tz.append(name)
            local.append(t)
            utc.append(seconds)
            offset.append(minutes)
    register_columns(con, f"{clock}_found", {
        "tz": numpy.array(tz, dtype=object), "send_local": numpy.array(local, dtype="datetime64[us]"),
        "send_utc": numpy.array(utc, dtype=numpy.int64), "utc_offset": numpy.array(offset, dtype=numpy.int32),
    })
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {ident(clock)} AS
        SELECT CAST(tz AS VARCHAR) AS tz, CAST(send_local AS TIMESTAMP) AS send_local, send_utc, utc_offset FROM {ident(clock + '_found')}""")
    con.unregister(f"{clock}_found")
