"""benchmarks/synth.py, the shops the benchmarks plan for: made a chunk of customers at a
time (bounded memory at 10M customers), the same shop for the same seed, and a first
chunk that is the shop the unchunked script made."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from .conftest import ROOT

SYNTH = ROOT / "benchmarks" / "synth.py"


def made(out: Path, *args: str) -> dict[str, list[dict]]:
    subprocess.run([sys.executable, str(SYNTH), str(out), "--format", "parquet", *args], check=True, capture_output=True)
    return {name: pq.read_table(out / f"{name}.parquet").to_pylist() for name in ("customers", "orders", "history", "optouts")}


def test_chunks_make_one_shop(tmp_path: Path) -> None:
    shop = made(tmp_path / "chunked", "--customers", "2500", "--chunk", "1000", "--orders-per-customer", "4")
    ids = [c["customer_id"] for c in shop["customers"]]
    assert ids == [f"{i:07d}" for i in range(1, 2501)]
    orders = [o["order_id"] for o in shop["orders"]]
    assert orders == [f"O{i:09d}" for i in range(1, len(orders) + 1)]  # numbered across the chunks
    assert {o["customer_id"] for o in shop["orders"]} <= set(ids)
    assert {o["customer_id"] for o in shop["orders"] if o["customer_id"] > "0002000"}  # the last chunk has orders
    assert {h["customer_id"] for h in shop["history"]} <= {f"{i:07d}" for i in range(0, 2500)}
    # a chunk's draws are its own: the chunks are not copies of each other
    first, second = shop["customers"][:1000], shop["customers"][1000:2000]
    assert [c["phone"] for c in first] != [c["phone"] for c in second]
    # the first chunk is the shop of one chunk's size, made in one piece
    small = made(tmp_path / "small", "--customers", "1000", "--orders-per-customer", "4")
    assert shop["customers"][:1000] == small["customers"]
    assert [o for o in shop["orders"] if o["customer_id"] <= "0001000"] == small["orders"]
    # the same seed, the same shop
    again = made(tmp_path / "again", "--customers", "2500", "--chunk", "1000", "--orders-per-customer", "4")
    assert again == shop


def test_the_heavy_shape_has_a_long_tail_and_a_long_history(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("synth", SYNTH)
    assert spec and spec.loader
    synth = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(synth)
    import numpy as np

    counts = synth.order_counts(200_000, 10.0, "heavy", np.random.default_rng(1))
    rhythm = synth.order_counts(200_000, 10.0, "rhythm", np.random.default_rng(1))
    assert 6 < counts.mean() < 14 and 8 < rhythm.mean() < 12  # about the orders asked for, both
    assert np.median(counts) <= 3 < np.median(rhythm)  # most buy once or twice
    assert counts.max() > 20 * rhythm.max() / 10 and (counts > 200).sum() > 100  # and a few hundreds of times
    shop = made(tmp_path / "heavy", "--customers", "3000", "--shape", "heavy")
    days = sorted(o["ordered_at"].date() for o in shop["orders"])
    assert (days[-1] - days[0]).days > 9 * 365  # ten years of history
    assert len(days) == len({o["order_id"] for o in shop["orders"]})
