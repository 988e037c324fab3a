"""Benchmark `huitou validate` on 200 playbooks (generated copies of rules/).

Measured in one run, on the same files:
  floor  - PyYAML safe_load + jsonschema Draft7 validation in-process: the least any
           schema-checking validator must do (no positions, no semantic checks);
  huitou - validate_paths() in-process: loading with positions, schemas, every semantic
           check (predicates, references, templates, SMS budget, care-first);
  cli    - the `huitou validate` console script as a whole process (start-up included);
  peer   - check-jsonschema on the same files (schema only), as a whole process.

Usage: python benchmarks/validate.py [--playbooks 200] [--repeat 5] [--write]
--write replaces the "validate" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_section import publish  # noqa: E402

sys.path.insert(0, str(ROOT / "src"))


def make_project(target: Path, count: int) -> list[Path]:
    shutil.copy(ROOT / "huitou.yaml", target / "huitou.yaml")
    shutil.copytree(ROOT / "templates", target / "templates")
    (target / "rules").mkdir()
    # playbooks only: the rule tests beside them (NAME.test.yaml) are another kind of file
    sources = sorted(p for p in (ROOT / "rules").glob("*.yaml") if not p.name.endswith(".test.yaml"))
    out = []
    for i in range(count):
        src = sources[i % len(sources)]
        text = src.read_text(encoding="utf-8")
        text = re.sub(r"^name: (.+)$", lambda m, i=i: f"name: {m.group(1)}-{i:03d}", text, count=1, flags=re.M)
        path = target / "rules" / f"{src.stem}_{i:03d}.yaml"
        path.write_text(text, encoding="utf-8")
        out.append(path)
    return out


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--playbooks", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    import jsonschema
    import yaml

    from huitou import schema as schema_module
    from huitou.checks import templates as template_checks
    from huitou.validate import validate_paths

    bindir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        files = make_project(project, args.playbooks)
        schema = json.loads((ROOT / "schemas" / "playbook.v1.schema.json").read_text(encoding="utf-8"))
        validator = jsonschema.Draft7Validator(schema)

        def floor() -> None:
            for f in files:
                list(validator.iter_errors(yaml.load(f.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)))

        os.chdir(project)
        result = validate_paths([])
        assert not result.diagnostics, [str(d) for d in result.diagnostics[:3]]
        assert len(result.playbooks) == args.playbooks
        t_floor = timed(floor, args.repeat)

        def cold_validate() -> None:
            # Caches live for one process; clear them so every run pays what a command pays.
            template_checks._parse.cache_clear()
            schema_module._validator.cache_clear()
            schema_module.load_schema.cache_clear()
            validate_paths([])

        t_huitou = timed(cold_validate, args.repeat)
        t_cli = timed(lambda: subprocess.run([str(bindir / "huitou"), "validate"], check=True, capture_output=True), args.repeat)
        t_peer = timed(
            lambda: subprocess.run(
                [str(bindir / "check-jsonschema"), "--schemafile", str(ROOT / "schemas" / "playbook.v1.schema.json"), *map(str, files)],
                check=True,
                capture_output=True,
            ),
            args.repeat,
        )

    rules = sum(len(p.rules) for p in result.playbooks)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"
    rows = [
        ("floor: PyYAML (libyaml) + jsonschema, in-process (schema only)", t_floor),
        ("huitou validate_paths(), in-process (all checks)", t_huitou),
        ("huitou validate, whole process", t_cli),
        ("peer: check-jsonschema, whole process (schema only)", t_peer),
    ]
    lines = [
        "## validate",
        "",
        f"Run: `make bench` (benchmarks/validate.py) on {dt.date.today().isoformat()}; {machine}.",
        f"Workload: {args.playbooks} playbooks ({rules} rules, generated copies of rules/) plus 29 templates; median of {args.repeat} runs.",
        "",
        "| what | seconds | vs floor | vs peer |",
        "|---|---:|---:|---:|",
        *[f"| {name} | {t:.3f} | {t / t_floor:.2f}x | {t / t_peer:.2f}x |" for name, t in rows],
        "",
        f"Target: well under 2 s for 200 playbooks. huitou does every check on {args.playbooks} in {t_huitou:.2f} s in-process and {t_cli:.2f} s as a command;",
        f"check-jsonschema's schema-only pass over the same files takes {t_peer / t_cli:.2f}x as long as the huitou command.",
        "",
    ]
    publish(lines, args.write)


if __name__ == "__main__":
    main()
