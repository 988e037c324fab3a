"""`huitou validate`: load, check against the schemas, run the semantic checks, collect.

Problems are values (Diagnostics); nothing here raises for a user's mistake.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import schema
from .checks import PLAYBOOK_CHECKS, care_first, exposure, secrets
from .checks import templates as template_checks
from .checks.context import PlaybookContext
from .checks.references import template_files
from .data.profile import ORDER_COLUMNS
from .data.sources import is_system_path
from .diagnostics import Diagnostic, did_you_mean
from .errors import HuitouError
from .i18n import _
from .loader import Document, load_file
from .project import CONFIG_NAME, Project, find_root

YAML_SUFFIXES = (".yaml", ".yml")


@dataclass
class Result:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: int = 0
    playbooks: list[PlaybookContext] = field(default_factory=list)
    tests: list[tuple[Path, Document]] = field(default_factory=list)  # valid *.test.yaml files (huitou test)

    @property
    def errors(self) -> int:
        return sum(d.severity == "error" for d in self.diagnostics)

    @property
    def warnings(self) -> int:
        return sum(d.severity == "warning" for d in self.diagnostics)

    def failed(self, strict: bool = False) -> bool:
        return self.errors > 0 or (strict and self.warnings > 0)


class UsageError(HuitouError):
    """A path that does not exist: the command was called wrongly (exit 2)."""


def open_project(paths: list[Path]) -> Project:
    start = paths[0] if paths else Path.cwd()
    root = find_root(start) or (start if start.is_dir() else start.parent if start.exists() else Path.cwd())
    return Project(root.resolve())


def load_config(project: Project) -> list[Diagnostic]:
    """Load huitou.yaml into the project; its problems are returned. An invalid config
    still gives the playbooks' checks what is valid in it (schema.without_errors), so one
    wrong value is one error, not one for every check that reads a setting beside it."""
    path = project.root / CONFIG_NAME
    if not path.is_file():
        return []
    doc, problems = load_file(path, project.display(path))
    if doc is None:
        return problems
    found = schema.validate(doc, "project")
    problems += (
        found
        + list(secrets.run(doc))
        + list(exposure.run(doc, project.root))
        + list(_config_timezone(doc))
        + list(_config_country(doc))
        + list(_config_mappings(doc))
    )
    problems += list(_config_encodings(doc))
    project.config = exposure.without_system_dirs(schema.without_errors(doc.data, "project"), project.root)
    return problems


# What each source reads besides its declared `fields` (data/load.py, plan/inputs.py).
_READ = {
    "orders": ORDER_COLUMNS,
    "history": ("customer_id", "channel", "intent", "sent_at"),
    "suppression": ("customer_id", "channel"),
    "products": ("category", "product", "goes_with", "rank"),
}


def _config_mappings(doc: Document) -> Iterator[Diagnostic]:
    """A column mapped to a field its source does not read does nothing, silently: on the
    orders, `columns: {phone: Mobile}` without `fields: {phone: string}` leaves every
    phone empty (and every SMS `no_contact`). HT105, with the declaration that makes it
    work."""
    from .data.profile import profile_types

    data = doc.data.get("data") if isinstance(doc.data, dict) else None
    for name, spec in data.items() if isinstance(data, dict) else ():
        if not isinstance(spec, dict) or not isinstance(spec.get("columns"), dict):
            continue
        given = spec.get("fields")
        fields: dict[str, str] = given if isinstance(given, dict) else {}
        read = set(profile_types(fields)) | {"customer_id"} if name == "customers" else set(_READ.get(name, ())) | set(fields)
        for key in spec["columns"]:
            if key in read:
                continue
            line, col = doc.position(("data", name, "columns", key), at_key=True)
            standard = profile_types({}).get(str(key))
            if name == "orders" and standard is not None:
                hint = _(
                    "declare it: data.orders.fields: {{{key}: {type}}} (profile columns on the order rows, read when there is no customers file)",
                    key=key,
                    type=_FIELD_TYPE.get(standard, "string"),
                )
            else:
                hint = did_you_mean(str(key), sorted(read)) or _(
                    "declare it under data.{name}.fields with its type, or remove the mapping", name=name
                )
            yield Diagnostic(
                doc.path,
                line,
                col,
                "HT105",
                _("data.{name}.columns.{key}: {name} do not read a field '{key}', so the mapping does nothing", name=name, key=key),
                hint,
            )


_FIELD_TYPE = {"VARCHAR": "string", "BOOLEAN": "boolean", "DATE": "date", "BIGINT": "integer", "VARCHAR[]": "list"}


def _config_country(doc: Document) -> Iterator[Diagnostic]:
    """shop.country is a country phonenumbers knows (its numbering plan reads the shop's
    phone numbers)."""
    import phonenumbers

    country = (doc.data.get("shop") or {}).get("country") if isinstance(doc.data, dict) and isinstance(doc.data.get("shop"), dict) else None
    if isinstance(country, str) and re.fullmatch("[A-Z]{2}", country) and country not in phonenumbers.SUPPORTED_REGIONS:
        line, col = doc.position(("shop", "country"))
        hint = did_you_mean(country, sorted(phonenumbers.SUPPORTED_REGIONS)) or _(
            "an ISO 3166 country code with a numbering plan, e.g. CN, US, JP, GB"
        )
        said = _("shop.country: '{country}' is not a country with a phone numbering plan", country=country)
        yield Diagnostic(doc.path, line, col, "HT104", said, hint)


def _config_encodings(doc: Document) -> Iterator[Diagnostic]:
    """Each source's csv.encoding is an encoding Python can decode (HT104)."""
    from .data.encoding import codec_name

    data = doc.data.get("data") if isinstance(doc.data, dict) else None
    for name, spec in data.items() if isinstance(data, dict) else ():
        encoding = spec.get("csv", {}).get("encoding") if isinstance(spec, dict) and isinstance(spec.get("csv"), dict) else None
        if isinstance(encoding, str) and encoding and codec_name(encoding) is None:
            line, col = doc.position(("data", name, "csv", "encoding"))
            hint = _("write e.g. gbk, gb18030, big5, shift_jis, euc_kr, utf-16, cp1252 or latin-1")
            said = _("data.{name}.csv.encoding: '{encoding}' is not an encoding", name=name, encoding=encoding)
            yield Diagnostic(doc.path, line, col, "HT104", said, hint)


def _config_timezone(doc: Document) -> Iterator[Diagnostic]:
    """huitou.yaml's timezone is an IANA name (HT503), as a playbook's is."""
    from .checks.policies import valid_timezone

    name = doc.data.get("timezone") if isinstance(doc.data, dict) else None
    if isinstance(name, str) and not valid_timezone(name):
        line, column = doc.position(("timezone",))
        said, hint = _("unknown timezone '{name}'", name=name), _("use an IANA name such as Asia/Shanghai")
        yield Diagnostic(doc.path, line, column, "HT503", said, hint)


def is_test_file(path: Path) -> bool:
    """Rule tests (`huitou test`) live beside the playbooks as NAME.test.yaml."""
    return path.name.endswith((".test.yaml", ".test.yml"))


def expand(paths: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """(YAML files, template files) under the given paths, in a stable order."""
    yamls: list[Path] = []
    templates: list[Path] = []
    for path in paths:
        if not path.exists():
            raise UsageError(_("no such file or directory: {path}", path=path))
        files = (
            [path]
            if path.is_file()
            else sorted(p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
        )
        for f in files:
            if f.suffix in YAML_SUFFIXES:
                yamls.append(f.resolve())
            elif f.suffix == ".j2":
                templates.append(f.absolute())  # not resolved: a link out of templates/ must stay visible as one (HT406)
    return list(dict.fromkeys(yamls)), list(dict.fromkeys(templates))


def validate_paths(paths: list[Path]) -> Result:
    project = open_project(paths)
    config_problems = load_config(project)
    if not paths:  # the whole project
        candidates = [project.root / CONFIG_NAME, *project.playbook_dirs, project.templates_dir]
        paths = [p for p in candidates if p.exists() and not is_system_path(p)]  # HT106 says why a system directory is left out
    yamls, template_paths = expand(paths)
    result = Result(files=len(yamls) + len(template_paths))
    config_path = (project.root / CONFIG_NAME).resolve()
    if config_path in yamls:
        result.diagnostics += config_problems
    contexts = []
    for path in yamls:
        if path == config_path:
            continue
        doc, problems = load_file(path, project.display(path))
        result.diagnostics += problems
        if doc is None:
            continue
        if is_test_file(path):
            found = schema.validate(doc, "test")
            result.diagnostics += found
            if not found and not problems:
                result.tests.append((path, doc))
            continue
        found = schema.validate(doc, "playbook")
        result.diagnostics += found + list(secrets.run(doc))
        if not found and not problems:
            contexts.append(PlaybookContext(doc, project))
    result.playbooks = contexts
    result.diagnostics += _duplicate_names(contexts)
    forms = care_first.care_forms(contexts)
    used_templates: list[Path] = []
    for ctx in contexts:
        ctx.care_forms = forms
        for check in PLAYBOOK_CHECKS:
            result.diagnostics += check(ctx)
        used_templates += [f.resolve() for i in range(len(ctx.rules)) for _, f in template_files(ctx, i)]
    for path in dict.fromkeys([*template_paths, *used_templates]):
        result.diagnostics += template_checks.check_file(path, project)
    result.diagnostics = sorted(set(result.diagnostics), key=lambda d: (d.file, d.line, d.column, d.code, d.message))
    return result


def _duplicate_names(contexts: list[PlaybookContext]) -> list[Diagnostic]:
    seen: dict[str, PlaybookContext] = {}
    out = []
    for ctx in contexts:
        if ctx.name in seen:
            out.append(
                ctx.at(
                    ("name",),
                    "HT304",
                    _("playbook name '{name}' is already used by {file}", name=ctx.name, file=seen[ctx.name].doc.path),
                    _("playbook names are part of every idempotency key: make them unique"),
                )
            )
        seen.setdefault(ctx.name, ctx)
    return out
