"""HT401-HT407: templates compile, use only real variables and fields, stay inside templates/
and the sandbox's bounds, and fit the channel.

The SMS budget check renders no data: it walks the template and builds its longest
plausible text - the longer branch of every `if`, three turns of every loop, and for each
variable a worst-case value of its type (a long Chinese name, a five-digit amount, ...) -
then adds the channel's signature and opt-out and counts segments.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError, nodes

from ..data.sources import field_limits
from ..diagnostics import Diagnostic, did_you_mean
from ..features import CATALOG
from ..i18n import _, language
from ..project import Project
from ..sandbox import constant_bound_problems
from ..sms import compose, measure
from ..templates import TemplateLoader, environment, safe_name, template_fields, template_file, template_uses
from ..vocabulary import Intent
from .context import PlaybookContext
from .references import template_files, template_names

# Worst plausible rendering of a value of each feature type (the SMS budget check).
# The longest plausible value of a field the template prints, for the SMS length check.
# Text follows the playbook's locale: eight Chinese characters where names are written so,
# sixteen Latin letters elsewhere; a field's declared max_length and charset win.
WIDE_LOCALES = ("zh", "ja", "ko")
WORST_TEXT = {"ucs2": ("欧阳某某某某某某", "某"), "gsm7": ("Wwwwwwwwwwwwwwww", "W")}
WORST_BY_TYPE = {
    "string": "欧阳某某某某某某",
    "integer": "99999",
    "money": "99999.99",
    "number": "999.9",
    "date": "2026-12-31",
    "boolean": "False",
    "list": "['某某某某', '某某某某']",
}
WORST_FILTERED = {"money": "¥99,999.99", "date": "2026年12月31日", "mask": "138****0000", "greeting": "Good afternoon"}
WORST_FILTERED_LATIN = {"money": "$99,999.99", "date": "September 30, 2026"}
LOOP_TURNS = 3
WORST_CAP = 20_000  # characters: past any SMS budget, and nested loops stay cheap to check


_ENV = environment()
JINJA_NAMES = {"loop", "caller", "varargs", "kwargs", "self"}


def _parse(source: str) -> nodes.Template | TemplateSyntaxError:
    return _parsed(source, language())  # a syntax error is said in the language of the command


@functools.lru_cache(maxsize=4096)
def _parsed(source: str, _language: str) -> nodes.Template | TemplateSyntaxError:
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        return exc
    # Unknown filters and tests surface only when Jinja compiles; finding them in the tree
    # gives the same answer at a fraction of the cost.
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        known = _ENV.filters if isinstance(node, nodes.Filter) else _ENV.tests
        if node.name not in known:
            said = _("No filter named '{name}'.", name=node.name) if isinstance(node, nodes.Filter) else _("No test named '{name}'.", name=node.name)
            return TemplateSyntaxError(said, node.lineno)
    return tree


def read_template(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def check_file(path: Path, project: Project) -> Iterator[Diagnostic]:
    """Syntax, variables and fields of one template file."""
    display = project.display(path)
    root = project.templates_dir
    if path.absolute().is_relative_to(root.absolute()) and not path.resolve().is_relative_to(root.resolve()):
        yield Diagnostic(
            display,
            1,
            1,
            "HT406",
            _("the template is a link to a file outside templates/; huitou does not read it"),
            _("copy the file into templates/ instead of linking it"),
        )
        return
    source = read_template(path)
    if source is None:
        yield Diagnostic(display, 1, 1, "HT003", _("cannot read the template as UTF-8 text"), _("save it as UTF-8"))
        return
    tree = _parse(source)
    lines = source.splitlines()
    if isinstance(tree, TemplateSyntaxError):
        line = tree.lineno or 1
        quoted = re.findall(r"'([^']+)'", tree.message or "")
        column = _column(lines, line, quoted[0]) if quoted else 1
        hint = _("check the {{{{ }}}} and {{% %}} tags on this line")
        yield Diagnostic(display, line, column, "HT401", _("template error: {detail}", detail=tree.message), hint)
        return
    fields = template_fields({k: v for k, v in project.catalog.items() if k not in CATALOG})
    # Names Jinja itself provides (range, namespace, loop inside a for, ...) are not data.
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")} | set(_ENV.globals) | JINJA_NAMES
    assigned |= {m.name for m in tree.find_all(nodes.Macro)}
    for name in tree.find_all(nodes.Name):
        if name.ctx == "load" and name.name not in fields and name.name not in assigned:
            hint = did_you_mean(name.name, fields) or _("available: {names}", names=", ".join(fields))
            yield Diagnostic(
                display, name.lineno, _column(lines, name.lineno, name.name), "HT402", _("unknown variable '{name}'", name=name.name), hint
            )
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, (nodes.Getattr, nodes.Getitem))
        target = node.node
        if not isinstance(target, nodes.Name) or target.name in assigned or target.name not in fields:
            continue
        attr = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
        allowed = fields[target.name]
        if not isinstance(attr, str):
            continue
        if allowed is None or attr not in allowed:
            hint = did_you_mean(attr, allowed or ()) or (
                _("'{name}' has no fields", name=target.name) if allowed is None else _("see docs/features.md")
            )
            yield Diagnostic(
                display,
                node.lineno,
                _column(lines, node.lineno, f"{target.name}.{attr}", offset=len(target.name) + 1),
                "HT403",
                _("'{name}' has no field '{field}'", name=target.name, field=attr),
                hint,
            )
    for line, problem in constant_bound_problems(tree):
        yield Diagnostic(
            display,
            line,
            1,
            "HT407",
            _("this expression is over a bound of the template sandbox: {problem}", problem=problem),
            _("messages are short: compute large values in the data, not in the template (see docs/security.md)"),
        )
    yield from _references(path, tree, lines, display, project)


def _references(path: Path, tree: nodes.Template, lines: list[str], display: str, project: Project) -> Iterator[Diagnostic]:
    """include, import and extends: literal names of regular files inside the template's
    locale directory, never the template itself (HT406), that exist (HT302)."""
    locale_dir = _locale_dir(path, project)
    own = path.resolve().relative_to(locale_dir.resolve()).as_posix() if locale_dir is not None else None
    for node in tree.find_all((nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)):
        assert isinstance(node, (nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport))
        ref = node.template.value if isinstance(node.template, nodes.Const) else None
        hint = _("paths are relative to the locale directory, e.g. parts/footer.j2")
        if not isinstance(ref, str):
            yield Diagnostic(
                display,
                node.lineno,
                1,
                "HT406",
                _("include, import and extends take a literal template name, not a value chosen when rendering"),
                hint,
            )
        elif not safe_name(ref):
            yield Diagnostic(
                display,
                node.lineno,
                _column(lines, node.lineno, ref),
                "HT406",
                _("template name '{name}' leaves the locale directory (absolute or '..')", name=ref),
                hint,
            )
        elif ref == own:
            yield Diagnostic(
                display,
                node.lineno,
                _column(lines, node.lineno, ref),
                "HT406",
                _("the template includes itself ('{name}')", name=ref),
                _("include another file"),
            )
        elif locale_dir is None or template_file(locale_dir, ref) is None:
            outside = locale_dir is not None and (locale_dir / ref).exists()
            if outside:
                code, message = "HT406", _("included template '{name}' is a link to a file outside templates/", name=ref)
            else:
                code, message = "HT302", _("included template '{name}' not found", name=ref)
            yield Diagnostic(display, node.lineno, _column(lines, node.lineno, ref), code, message, hint)


def _locale_dir(path: Path, project: Project) -> Path | None:
    """The locale directory (templates/<locale>) a template file is in."""
    try:
        return project.templates_dir / path.resolve().relative_to(project.templates_dir.resolve()).parts[0]
    except (ValueError, IndexError):
        return None


def _column(lines: list[str], lineno: int, text: str, offset: int = 0) -> int:
    line = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
    found = re.search(re.escape(text), line)
    return (found.start() + offset + 1) if found else 1


def run(ctx: PlaybookContext) -> Iterator[Diagnostic]:
    """Channel fit of the templates each rule uses."""
    channels = ctx.project.channels
    for i, rule in enumerate(ctx.rules):
        settings = channels.get(rule["channel"]) or {}
        kind = settings.get("kind")
        names = dict(template_names(ctx, i))
        for path, file in template_files(ctx, i):
            source = read_template(file)
            tree = _parse(source) if source is not None else None
            if not isinstance(tree, nodes.Template):
                continue
            if kind == "sms":
                yield from _sms_budget(ctx, i, path, file, tree, settings)
            elif kind == "email":
                blocks = {b.name for b in tree.find_all(nodes.Block)}
                shown = ctx.project.display(file)
                lacks = {
                    (True, True): _("email template {file} has no subject and no text or html block", file=shown),
                    (True, False): _("email template {file} has no subject block", file=shown),
                    (False, True): _("email template {file} has no text or html block", file=shown),
                }.get(("subject" not in blocks, not blocks & {"text", "html"}))
                if lacks:
                    yield ctx.at(
                        path,
                        "HT405",
                        lacks,
                        _("define {{% block subject %}}...{{% endblock %}} and {{% block text %}} / {{% block html %}}"),
                    )
                elif rule["intent"] == Intent.PROMOTION and not _links_unsubscribe(file, names[path]):
                    yield ctx.at(
                        path,
                        "HT508",
                        _("promotional email template {file} has no unsubscribe link", file=ctx.project.display(file)),
                        _(
                            "put {{{{ unsubscribe_url }}}} in its text and html blocks (the signed link huitou makes for each customer; "
                            "List-Unsubscribe alone is not shown by every mail program)"
                        ),
                    )


def _links_unsubscribe(file: Path, name: str) -> bool:
    """Whether the template (or what it includes, extends or imports) prints
    `unsubscribe_url`; True when that cannot be told (a template named at run time, one
    that does not compile: other checks say so)."""
    directory = file.parents[len(Path(name).parts) - 1]
    try:
        used, _names = template_uses(environment(TemplateLoader([str(directory)])), name)
    except Exception:  # noqa: BLE001 - a broken template is HT401's to report
        return True
    return "unsubscribe_url" in used


def _sms_budget(
    ctx: PlaybookContext, i: int, path: tuple[str | int, ...], file: Path, tree: nodes.Template, settings: dict[str, object]
) -> Iterator[Diagnostic]:
    limits = field_limits(ctx.project.config)
    body = worst_case(tree.body, ctx.project.shop, ctx.locale, limits)
    opt_out = str(settings.get("opt_out") or "") if ctx.rules[i]["intent"] == Intent.PROMOTION else ""
    signature = str(settings.get("signature") or "")
    length = measure(compose(body, signature, opt_out))
    budget = int(settings.get("max_segments") or 1)  # type: ignore[call-overload]
    if length.segments <= budget:
        return
    # What makes it UCS-2, when the fixed text alone would be GSM-7: the fields' assumed values.
    forcing = ""
    if length.encoding == "ucs2":
        wide: list[str] = []
        fixed = worst_case(tree.body, ctx.project.shop, ctx.locale, limits, wide)
        if wide and measure(compose(fixed, signature, opt_out)).encoding == "gsm7":
            forcing = "; " + _(
                "{fields} may hold characters outside GSM-7 (assumed from the locale {locale}): "
                "declare the field's charset and max_length under data.customers.fields if its values are plain Latin text",
                fields=", ".join(dict.fromkeys(wide)),
                locale=ctx.locale,
            )
    encoding = length.encoding.upper()
    message = _(
        "SMS {file} can reach {units} {encoding} characters with signature and opt-out: {segments} segments, over the budget of {budget}",
        file=ctx.project.display(file),
        units=length.units,
        encoding=encoding,
        segments=length.segments,
        budget=budget,
    )
    hint = _(
        "a {encoding} SMS holds {limit} characters in one segment; shorten the text or raise channels.{channel}.max_segments",
        encoding=encoding,
        limit=length.single_limit,
        channel=ctx.rules[i]["channel"],
    )
    yield ctx.at(path, "HT404", message + forcing, hint)


def worst_case(
    body: list[nodes.Node],
    shop: dict[str, object],
    locale: str,
    limits: dict[str, dict[str, Any]] | None = None,
    wide: list[str] | None = None,
) -> str:
    """The longest plausible text a template body can render. With `wide` (a list), the
    fields print as GSM-7 text of the same length instead, and the names of those whose
    assumed values are UCS-2 are added to it."""
    out: list[str] = []
    for node in body:
        if isinstance(node, nodes.Output):
            out.extend(_expr(n, shop, locale, limits or {}, wide) if not isinstance(n, nodes.TemplateData) else n.data for n in node.nodes)
        elif isinstance(node, nodes.If):
            branches = [worst_case(node.body, shop, locale, limits, wide)]
            branches += [worst_case(e.body, shop, locale, limits, wide) for e in node.elif_]
            branches.append(worst_case(node.else_, shop, locale, limits, wide))
            out.append(max(branches, key=_weight))
        elif isinstance(node, nodes.For):
            out.append(
                max(
                    worst_case(node.body, shop, locale, limits, wide) * LOOP_TURNS,
                    worst_case(node.else_, shop, locale, limits, wide),
                    key=_weight,
                )
            )
        elif hasattr(node, "body") and isinstance(node.body, list):
            out.append(worst_case(node.body, shop, locale, limits, wide))  # blocks, with, filter blocks
    return "".join(out)[:WORST_CAP]


def _worst_text(name: str, locale: str, limits: dict[str, dict[str, Any]]) -> str:
    """The longest plausible value of a text field: its declared limits, else the locale's."""
    declared = limits.get(name, {})
    charset = declared.get("charset") or ("ucs2" if locale.split("-")[0].lower() in WIDE_LOCALES else "gsm7")
    default, unit = WORST_TEXT[charset]
    return unit * int(declared["max_length"]) if "max_length" in declared else default


def _weight(text: str) -> tuple[int, int]:
    m = measure(text)
    return (m.segments, m.units)


def _expr(node: nodes.Node, shop: dict[str, object], locale: str, limits: dict[str, dict[str, Any]], wide: list[str] | None = None) -> str:
    if isinstance(node, nodes.Const):
        return str(node.value)
    if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
        if node.node.name == "shop" and node.attr in shop:
            return str(shop[node.attr])
        feature = CATALOG.get(node.attr)
        if feature is not None and feature.type != "string":
            return WORST_BY_TYPE.get(feature.type, WORST_BY_TYPE["string"])
        value = _worst_text(node.attr, locale, limits)
        if wide is not None and measure(value).encoding == "ucs2":
            wide.append(f"{node.node.name}.{node.attr}")
            return "W" * len(value)
        return value
    if isinstance(node, nodes.Filter):
        if node.name == "greeting" and locale.startswith(("zh", "ja")):
            return "おはようございます" if locale.startswith("ja") else "下午好"
        if node.name in WORST_FILTERED:
            latin = locale.split("-")[0].lower() not in WIDE_LOCALES
            return WORST_FILTERED_LATIN.get(node.name, WORST_FILTERED[node.name]) if latin else WORST_FILTERED[node.name]
        inner = _expr(node.node, shop, locale, limits, wide) if node.node is not None else ""
        if node.name in ("default", "d") and node.args:
            return max(inner, _expr(node.args[0], shop, locale, limits, wide), key=_weight)
        if node.name == "truncate" and node.args and isinstance(node.args[0], nodes.Const):
            return inner[: int(node.args[0].value)]
        return inner
    if isinstance(node, nodes.CondExpr):
        options = [_expr(node.expr1, shop, locale, limits, wide)] + (
            [_expr(node.expr2, shop, locale, limits, wide)] if node.expr2 is not None else []
        )
        return max(options, key=_weight)
    if isinstance(node, nodes.Concat):
        return "".join(_expr(n, shop, locale, limits, wide) for n in node.nodes)
    return _worst_text("", locale, limits)
