"""The command line every data benchmark takes, and its synthetic shop (benchmarks/synth.py),
generated once into benchmarks/.data/ and reused."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def arguments(repeat: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders-per-customer", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=repeat)
    parser.add_argument("--write", action="store_true", help="record the result in docs/benchmarks.md")
    return parser.parse_args()


def shop_data(args: argparse.Namespace) -> Path:
    """The Parquet shop of that size (and shape: synth.py's rhythm unless `args.shape`),
    generated when missing."""
    shape = getattr(args, "shape", "rhythm")
    data = HERE / ".data" / f"{args.customers}x{args.orders_per_customer:g}{'' if shape == 'rhythm' else '-' + shape}"
    if not (data / "orders.parquet").exists():
        cmd = [
            sys.executable,
            str(HERE / "synth.py"),
            str(data),
            "--customers",
            str(args.customers),
            "--orders-per-customer",
            str(args.orders_per_customer),
            "--format",
            "parquet",
            "--shape",
            shape,
        ]
        subprocess.run(cmd, check=True)
    return data
