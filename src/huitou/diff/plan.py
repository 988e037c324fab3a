"""Plan two versions of a project over the same data: loaded and checked once, with one
set of features, history, opt-outs and send ledger (HEAD's), so that every difference
between the two plans comes from the playbooks, templates and settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checks.context import PlaybookContext
from ..delivery.ledger import default_path
from ..diagnostics import Diagnostic
from ..plan.build import Plan, build_plan
from ..plan.render_memo import RenderMemo
from ..project import CONFIG_NAME
from ..validate import load_config, open_project, validate_paths
from .versions import Version


@dataclass
class Checked:
    """A version's validation: its diagnostics (paths relative to its root) and the
    playbooks that can be planned (those whose file has no error)."""

    version: Version
    diagnostics: list[tuple[str, Diagnostic]] = field(default_factory=list)  # (path in the project, diagnostic)
    playbooks: list[PlaybookContext] = field(default_factory=list)
    rules: list[tuple[str, str]] = field(default_factory=list)  # (playbook, rule id) of every playbook read
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> list[tuple[str, Diagnostic]]:
        return [(f, d) for f, d in self.diagnostics if d.severity == "error"]


def _in_project(display: str, root: Path) -> str:
    """A diagnostic's file as a path inside the project, the same in both versions."""
    path = Path(display)
    path = path if path.is_absolute() else Path.cwd() / path
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return display


def check(version: Version) -> Checked:
    """Validate a version as `huitou validate` in its root would."""
    project = open_project([version.root])
    load_config(project)
    whole = [project.root / CONFIG_NAME, *project.playbook_dirs, project.templates_dir]
    result = validate_paths([p for p in whole if p.exists()])
    checked = Checked(version, [(_in_project(d.file, version.root), d) for d in result.diagnostics], config=project.config)
    broken = {f for f, d in checked.errors}
    for ctx in result.playbooks:
        checked.rules += [(ctx.name, str(rule.get("id"))) for rule in ctx.rules]
        if _in_project(ctx.doc.path, version.root) not in broken:
            checked.playbooks.append(ctx)
    return checked


def same_inputs(config: dict[str, Any], head: Checked) -> dict[str, Any]:
    """`config` with HEAD's data sources and send ledger, their paths made absolute."""
    data = {}
    for name, spec in (head.config.get("data") or {}).items():
        if isinstance(spec, dict) and spec.get("path"):
            spec = {**spec, "path": str((head.version.root / str(spec["path"])).resolve())}
        data[name] = spec
    ledger = default_path(head.version.root, head.config)
    return {**config, "data": data, "ledger": {"path": str(ledger.resolve())} if ledger.is_file() else None}


def plan_both(session: Any, base: Checked, head: Checked, horizon: int, memo: RenderMemo | None = None) -> tuple[Plan | None, Plan | None]:
    """The two plans, as the relations `base` and `head` of the session's DuckDB (None for
    a version with nothing to plan). HEAD's plan copies BASE's messages that render alike
    (`memo`, by default a new one; render_memo.py): rendering is most of a plan's time,
    and a change rarely touches every template."""
    plans: list[Plan | None] = []
    memo = memo or RenderMemo(session.con, "diff_render_memo")
    for checked, name in ((base, "base"), (head, "head")):
        if not checked.playbooks:
            plans.append(None)
            continue
        project = checked.playbooks[0].project
        project.config = same_inputs(project.config, head)
        plans.append(build_plan(session, checked.playbooks, horizon, prefix=name, memo=memo))
    return plans[0], plans[1]
