"""Which stage may import which (docs/architecture.md): checked on the source, so that a
dependency pointing the wrong way fails here rather than in a slow start or a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "src" / "huitou"


def imported(package: str) -> dict[str, set[str]]:
    """For each module of src/huitou/PACKAGE/: the huitou modules it imports (dotted,
    without `huitou.`), wherever in the module the import is."""
    out: dict[str, set[str]] = {}
    for path in sorted((SOURCE / package).glob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = [package] if node.level == 1 else []
                module = ".".join([*base, *(node.module or "").split(".")]).strip(".")
                names |= {module} if node.module else {f"{module}.{a.name}".strip(".") for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("huitou."):
                names.add(node.module.removeprefix("huitou."))  # type: ignore[union-attr]
        out[path.name] = names
    return out


def test_delivery_reads_plans_through_the_contract_not_the_planner() -> None:
    wrong = {name: sorted(m for m in modules if m == "plan" or m.startswith("plan.")) for name, modules in imported("delivery").items()}
    assert not {name: found for name, found in wrong.items() if found}


def test_the_planner_reads_delivery_only_through_the_ledger() -> None:
    """The plan takes in what delivery recorded (messages sent, opt-outs) through the
    ledger's read functions, and nothing else of delivery."""
    wrong = {name: sorted(m for m in modules if m.startswith("delivery") and m != "delivery.ledger") for name, modules in imported("plan").items()}
    assert not {name: found for name, found in wrong.items() if found}
    assert any("delivery.ledger" in modules for modules in imported("plan").values())  # the check sees relative imports
