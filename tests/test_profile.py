"""`huitou plan --profile`: where the plan's time goes, stage by stage, with the rows each
stage made - counted here from the plan file and the load report, independently."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from tests.inprocess import huitou

from .conftest import ROOT

LINE = re.compile(r"^(?P<name>.+?)\s{2,}(?P<seconds>\d+\.\d\d)(?:\s+(?P<rows>[\d,]+)\s+(?P<of>.+))?$")
STAGES = [
    "reading and validating the playbooks",
    "loading and checking the data",
    "features and segments of the matched customers",
    "candidates: timings, opt-outs, contact, consent, holdout",
    "arbitration: caps, priority, care-first, reasons",
    "rendering the sends",
    "assembling the plan",
    "writing the plan file",
]


def profiled(err: str) -> tuple[dict[str, tuple[float, int | None, str | None]], float, str]:
    """The profile's stages (seconds, rows, what), its total and its memory line."""
    lines = err.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"^(stage|阶段)\s", line))
    stages: dict[str, tuple[float, int | None, str | None]] = {}
    for line in lines[start + 1 :]:
        found = LINE.match(line)
        assert found, line
        if found["name"] in ("total", "合计"):
            return stages, float(found["seconds"]), lines[lines.index(line) + 1]
        rows = int(found["rows"].replace(",", "")) if found["rows"] else None
        stages[found["name"]] = (float(found["seconds"]), rows, found["of"])
    raise AssertionError(err)


def environment(**more: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k not in ("HUITOU_PROFILE", "HUITOU_LANG")}, **more}


def test_each_stage_with_its_rows(tmp_path: Path) -> None:
    plan = tmp_path / "plan.jsonl"
    done = huitou("plan", "--as-of", "2026-11-01", "--out", plan, "--profile", cwd=ROOT, env=environment(), check=True)
    stages, total, memory = profiled(done.stderr)
    assert list(stages) == STAGES
    rows = [json.loads(line) for line in plan.read_text(encoding="utf-8").splitlines()]
    loaded = int(re.search(r"orders: [\d,]+ rows read from orders\.csv, ([\d,]+) loaded", done.stderr)[1].replace(",", ""))  # type: ignore[index]
    assert stages["loading and checking the data"][1:] == (loaded, "orders")
    # every candidate is decided and becomes a row of the plan; the sends are what was rendered
    assert stages["candidates: timings, opt-outs, contact, consent, holdout"][1:] == (len(rows), "candidates")
    assert stages["arbitration: caps, priority, care-first, reasons"][1:] == (len(rows), "decided")
    assert stages["rendering the sends"][1:] == (sum(r["status"] == "send" for r in rows), "messages")
    assert stages["assembling the plan"][1:] == stages["writing the plan file"][1:] == (len(rows), "plan rows")
    # the matched customers: at least everyone with a candidate message
    matched = stages["features and segments of the matched customers"][1]
    assert matched is not None and matched >= len({r["customer_id"] for r in rows})
    assert 0 < sum(s for s, _r, _o in stages.values()) <= total + 0.01 * len(stages)
    assert re.fullmatch(r"peak memory: [\d,]+ MiB", memory), memory


def test_the_environment_variable_and_the_language() -> None:
    done = huitou("--lang", "zh-CN", "plan", "--as-of", "2026-11-01", cwd=ROOT, env=environment(HUITOU_PROFILE="1"), check=True)
    stages, _total, memory = profiled(done.stderr)
    assert "读取并校验剧本" in stages and "显示预演" in stages and memory.startswith("峰值内存")
    assert all(not re.search(r"[a-z]{4}", name) for name in stages)  # every stage said in Chinese


def test_no_profile_unless_asked() -> None:
    for env in (environment(), environment(HUITOU_PROFILE="0")):
        done = huitou("plan", "--as-of", "2026-11-01", cwd=ROOT, env=env, check=True)
        assert "peak memory" not in done.stderr and "seconds" not in done.stderr


def test_a_failed_plan_shows_the_stages_it_finished(tmp_path: Path) -> None:
    """A plan whose customers file is missing stops while loading: the profile shows the
    validation it finished, then the one-line error."""
    done = huitou("plan", "--as-of", "2026-11-01", "--customers", tmp_path / "none.csv", "--profile", cwd=ROOT, env=environment())
    assert done.returncode != 0 and "Traceback" not in done.stderr
    stages, _total, _memory = profiled(done.stderr)
    assert list(stages) == ["reading and validating the playbooks"]
    assert done.stderr.rstrip().splitlines()[-1].startswith("huitou plan: data.customers.path: ")
