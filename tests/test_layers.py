"""Which stage may import which (docs/architecture.md): checked on the source, so that a
dependency pointing the wrong way fails here rather than in a slow start or a cycle."""

from __future__ import annotations

import ast
import re
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


# The tables loading creates (data/load.py, data/raw.py, data/csvfile.py, feature_sql.py):
# only the relation layer names them; every other stage is handed a relation.Relation.
LOADED_TABLES = r"orders|customers|orders_rows|orders_checked|customers_checked|order_summary|order_items|order_date_bounds|raw_\w+|malformed_\w+"
RELATION_LAYER = ("relation.py", "data/", "feature_sql.py", "evaluate.py")
# Calls that take a table's name: exp.to_table("orders"), db.named("customers"), .from_("raw_orders"), ...
_TAKES_A_NAME = {"to_table", "table_", "named", "from_", "join", "create", "create_temp", "drop_table", "take_local", "relation_exists", "table"}


def loaded_tables_named(source: str, tables: str = LOADED_TABLES) -> list[str]:
    """Where a module's source names a table loading created: in SQL text, or given to a
    call that takes a table's name.

    >>> loaded_tables_named('q = "SELECT * FROM orders o"; t = exp.to_table("customers"); d = {"customers": 1}')
    ['FROM orders', 'to_table("customers")']
    >>> loaded_tables_named('q = tree("SELECT * FROM :orders", orders=data.orders.table)')
    []
    """
    # SQL that reads, writes or drops a table by name, in a string of the module.
    in_sql = re.compile(rf"\b(FROM|JOIN|INTO|TABLE|VIEW|UPDATE|EXISTS)\s+({tables})\b(?!\s*\()", re.IGNORECASE)
    found = []
    tree = ast.parse(source)
    docstrings = {id(n.body[0].value) for n in ast.walk(tree) if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef) and ast.get_docstring(n)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            found += [f"{m.group(1)} {m.group(2)}" for m in in_sql.finditer(node.value)]
        elif isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            for arg in node.args:
                if name in _TAKES_A_NAME and isinstance(arg, ast.Constant) and re.fullmatch(rf"({tables})(\s.*)?", str(arg.value)):
                    found.append(f'{name}("{arg.value}")')
    return found


def test_only_the_relation_layer_names_the_loaded_tables() -> None:
    """A stage reads orders, customers, the summary and the items through the Relation
    loading hands it (evaluate.DataSession.data), never by a name it would have to know."""
    named = {}
    for path in sorted(SOURCE.rglob("*.py")):
        module = path.relative_to(SOURCE).as_posix()
        if not module.startswith(RELATION_LAYER):
            if found := loaded_tables_named(path.read_text(encoding="utf-8")):
                named[module] = found
    assert not named
    # The check reads what it should: the layer itself names them.
    assert loaded_tables_named((SOURCE / "data" / "load.py").read_text(encoding="utf-8"))


def scratch_stems(source: str) -> set[str]:
    """The relations a module asks a relation.Scratch for: the text of every `.new("...")`.

    >>> sorted(scratch_stems('a = scratch.new("candidates"); b = s.new(f"part_{n}"); c = s.new()'))
    ['candidates', 'part_{n}']
    """
    stems = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "new" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                stems.add(arg.value)
            elif isinstance(arg, ast.JoinedStr):
                stems.add(ast.unparse(arg)[2:-1])
    return stems


def test_each_plan_relation_is_made_by_one_stage() -> None:
    """A stage asks the plan's Scratch for the relations it makes and hands them on; no
    other stage asks for them by name. build.py, which runs the stages in turn (and lists
    their statements for huitou compile), is the one module that may name any."""
    makers: dict[str, list[str]] = {}
    for path in sorted((SOURCE / "plan").glob("*.py")):
        if path.name != "build.py":
            for stem in scratch_stems(path.read_text(encoding="utf-8")):
                makers.setdefault(stem, []).append(path.name)
    assert {stem: modules for stem, modules in makers.items() if len(modules) > 1} == {}
    assert {"candidates", "verdicts", "decided", "rendered", "history"} <= set(makers)  # the check sees the stages
    # No module reads or writes a plan relation by its whole name (plan_candidates, ...).
    stems = set(makers) | scratch_stems((SOURCE / "plan" / "build.py").read_text(encoding="utf-8"))
    names = "|".join(f"plan_{stem}" for stem in sorted(stems, key=len, reverse=True) if "{" not in stem)
    spelled = {
        p.relative_to(SOURCE).as_posix(): found
        for p in sorted(SOURCE.rglob("*.py"))
        if (found := loaded_tables_named(p.read_text(encoding="utf-8"), names))
    }
    assert spelled == {}
    assert loaded_tables_named('con.execute("SELECT * FROM plan_decided")', names)  # the check sees SQL
