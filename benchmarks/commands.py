"""How long a shop waits for a command: `huitou validate` and the dry run of `huitou plan`
on the example project, each a whole process of the installed console script (start-up
and imports included), the minimum of N runs.

Measured in one run, on the same machine:
  floor    - `python -c pass`: an interpreter that starts and stops, the least any
             Python command costs;
  peer     - check-jsonschema over the example playbooks (schema only), as a process;
  validate - `huitou validate` (schemas and every semantic check);
  plan     - `huitou plan --as-of 2026-11-01 --horizon 14d`, the dry run the README shows.

Usage: python benchmarks/commands.py [--repeat 5] [--write]
--write replaces the "commands" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_section import publish  # noqa: E402

BIN = Path(sys.executable).parent


def fastest(argv: list[str], repeat: int) -> float:
    """The least wall time of `repeat` runs of argv in the project's root (one run first,
    not counted: the operating system's file cache and Python's bytecode caches warm)."""
    env = {**os.environ, "HUITOU_REFERRAL_SECRET": os.environ.get("HUITOU_REFERRAL_SECRET", "bench-referral-secret")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    times = []
    for i in range(repeat + 1):
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        assert done.returncode == 0, f"{argv}: {done.stderr[-500:]}"
        if i:
            times.append(elapsed)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    playbooks = sorted(str(p) for p in (ROOT / "rules").glob("*.yaml") if not p.name.endswith(".test.yaml"))
    schema = ROOT / "schemas" / "playbook.v1.schema.json"
    runs = {
        "floor": [sys.executable, "-c", "pass"],
        "peer": [str(BIN / "check-jsonschema"), "--schemafile", str(schema), *playbooks],
        "validate": [str(BIN / "huitou"), "validate"],
        "plan": [str(BIN / "huitou"), "plan", "--as-of", "2026-11-01", "--horizon", "14d"],
    }
    seconds = {name: fastest(argv, args.repeat) for name, argv in runs.items()}
    lines = [
        "## commands",
        "",
        f"Run: `python benchmarks/commands.py` on {dt.date.today()}; {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}. Each command a whole process of the installed console script over the example "
        f"project (rules/: {len(playbooks)} playbooks; examples/: 300 customers), the least of {args.repeat} runs after one "
        "that warms the caches.",
        "",
        "| command | seconds | against the floor |",
        "|---|---:|---:|",
    ]
    labels = {
        "floor": "`python -c pass` (floor)",
        "peer": "check-jsonschema over the playbooks (schema only)",
        "validate": "`huitou validate`",
        "plan": "`huitou plan --as-of 2026-11-01 --horizon 14d` (dry run)",
    }
    for name, value in seconds.items():
        lines.append(f"| {labels[name]} | {value:.3f} | {value / seconds['floor']:.1f}x |")
    lines.append("")
    publish(lines, args.write)


if __name__ == "__main__":
    main()
