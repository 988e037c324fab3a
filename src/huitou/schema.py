"""Validate documents against the draft-07 JSON Schemas and place every error in the file.

jsonschema reports paths into the data; the loader's node tree turns each path into the
line and column of the offending key or value.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterable, Iterator
from importlib import resources
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

from .diagnostics import Diagnostic, closest, did_you_mean
from .i18n import N_, _, lookup
from .loader import Document

SCHEMAS = {"playbook": "playbook.v1.schema.json", "project": "project.v1.schema.json", "test": "test.v1.schema.json"}
SUPPORTED_VERSIONS = {1}
SECRET_KEY = re.compile(r"(?i)(^|_)(password|passwd|secret|token|api_?key|access_?key|private_?key)$")


@functools.cache
def load_schema(kind: str) -> dict[str, Any]:
    text = resources.files("huitou").joinpath("schemas").joinpath(SCHEMAS[kind]).read_text(encoding="utf-8")
    return json.loads(text)


@functools.cache
def _ecma(pattern: str) -> re.Pattern[str]:
    """A schema pattern as JSON Schema means it (ECMA-262): a final `$` is the end of the
    text. Python's `$` also matches before a final newline, so `id: "r1\\n"` passed
    `^[a-z0-9][a-z0-9_.-]*$` and reached the plan."""
    return re.compile(re.sub(r"(?<!\\)\$$", r"\\Z", pattern))


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _ecma(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_Draft7 = jsonschema.validators.extend(jsonschema.Draft7Validator, {"pattern": _pattern})


@functools.cache
def _validator(kind: str) -> jsonschema.Draft7Validator:
    return _Draft7(load_schema(kind), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def validate(doc: Document, kind: str) -> list[Diagnostic]:
    data = doc.data
    if not isinstance(data, dict):
        what = _("empty") if data is None else _json_type(data)
        said = _("the {kind} is {what}, not a mapping", kind=_(KIND_WORDS[kind]), what=what)
        return [Diagnostic(doc.path, 1, 1, "HT005", said, _("start with `version: 1`"))]
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version not in SUPPORTED_VERSIONS:
        line, col = doc.position(("version",)) if "version" in data else (1, 1)
        message = _("missing `version`") if "version" not in data else _("unsupported version {version}", version=repr(version))
        return [Diagnostic(doc.path, line, col, "HT004", message, _("this huitou reads version: 1"))]
    errors = sorted(_validator(kind).iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    out: list[Diagnostic] = []
    for error in _drop_shadowed(errors):
        out.extend(_diagnose(doc, error))
    return out


def without_errors(data: Any, kind: str) -> dict[str, Any]:
    """A copy of a document without the values the schema rejects, so that the checks
    reading it see only valid settings (none at all when the document is not a mapping).
    A value is removed where it is wrong; a missing key or an unknown one removes nothing
    (the checks read what is there), and what is left is validated again until clean."""
    if not isinstance(data, dict):
        return {}
    data = copy.deepcopy(data)
    for _round in range(20):  # removing a value can only uncover errors above it
        wrong = [tuple(e.absolute_path) for e in _validator(kind).iter_errors(data) if e.validator not in ("required", "additionalProperties")]
        if not wrong:
            return data
        for path in sorted(set(wrong), key=lambda p: (len(p), [str(k) for k in p]), reverse=True):
            if not path:
                return {}
            parent = _at(data, path[:-1])
            if isinstance(parent, dict):
                parent.pop(path[-1], None)
            elif isinstance(parent, list) and isinstance(path[-1], int) and path[-1] < len(parent):
                parent.pop(path[-1])
    return {}


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _drop_shadowed(errors: list[ValidationError]) -> Iterator[ValidationError]:
    """A summary `oneOf` message adds nothing when a precise error sits at the same place."""
    precise = {tuple(e.absolute_path) for e in errors if e.validator != "oneOf"}
    for error in errors:
        if error.validator == "oneOf" and "errorMessage" in error.schema and tuple(error.absolute_path) in precise:
            continue
        yield error


def _where(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or _("the document")


def _diagnose(doc: Document, error: ValidationError) -> list[Diagnostic]:
    path = tuple(error.absolute_path)
    where = _where(path)
    line, col = doc.position(path)
    validator = error.validator
    if validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        patterns = [re.compile(p) for p in error.schema.get("patternProperties", {})]
        extra = [k for k in error.instance if k not in allowed and not SECRET_KEY.search(str(k)) and not any(p.search(str(k)) for p in patterns)]
        out = []
        for key in extra:
            kline, kcol = doc.position((*path, key), at_key=True)
            hint = did_you_mean(key, allowed) or (_("allowed keys: {keys}", keys=", ".join(allowed)) if allowed else _("remove it"))
            out.append(Diagnostic(doc.path, kline, kcol, "HT101", _("unknown key '{key}' in {where}", key=key, where=where), hint))
        return out
    if validator == "required":
        # `chanel:` already gets "unknown key (did you mean 'channel'?)": one typo, one report.
        known = error.schema.get("properties", {})
        meant = {closest(k, error.validator_value) for k in error.instance if k not in known}
        missing = [k for k in error.validator_value if k not in error.instance and k not in meant]
        kline, kcol = doc.position(path, at_key=True) if path else (1, 1)
        return [
            Diagnostic(doc.path, kline, kcol, "HT102", _("missing '{key}' in {where}", key=key, where=where), _describe_property(error.schema, key))
            for key in missing
        ]
    if validator == "type":
        expected = [error.validator_value] if isinstance(error.validator_value, str) else list(error.validator_value)
        hint = _describe(error.schema)
        if expected == ["boolean"] and str(error.instance).lower() in ("yes", "no", "on", "off", "y", "n"):
            hint = _("'{value}' is text here (YAML 1.1 booleans are off): write true or false", value=error.instance)
        return [Diagnostic(doc.path, line, col, "HT103", _must_be(where, expected, error.instance), hint)]
    if validator == "oneOf":
        return _diagnose_one_of(doc, error, where, line, col)
    if validator == "dependencies":  # a key that only means something beside another
        key = next(k for k, needed in error.validator_value.items() if k in error.instance and any(n not in error.instance for n in needed))
        needed = [n for n in error.validator_value[key] if n not in error.instance]
        kline, kcol = doc.position((*path, key), at_key=True)
        return [
            Diagnostic(
                doc.path,
                kline,
                kcol,
                "HT104",
                _("'{key}' in {where} goes with {needed}, which is missing", key=key, where=where, needed=", ".join(repr(n) for n in needed)),
                _describe_property(error.schema, key),
            )
        ]
    if validator in ("not", "anyOf") and "errorMessage" in error.schema:  # a key of another variant, or none of the keys one needs
        return [Diagnostic(doc.path, line, col, "HT104", f"{where}: {lookup(error.schema['errorMessage'])}", _describe(error.schema))]
    if validator == "propertyNames":
        kline, kcol = doc.position((*path, error.instance), at_key=True)
        return [
            Diagnostic(
                doc.path,
                kline,
                kcol,
                "HT104",
                _("'{name}' is not a valid name in {where}", name=error.instance, where=where),
                _("use letters, digits and _ (and start with a letter)"),
            )
        ]
    return [_invalid_value(doc, error, where, line, col)]


def _diagnose_one_of(doc: Document, error: ValidationError, where: str, line: int, col: int) -> list[Diagnostic]:
    if "errorMessage" in error.schema:
        return [Diagnostic(doc.path, line, col, "HT102", f"{where}: {lookup(error.schema['errorMessage'])}", _describe(error.schema))]
    # The branch whose type fits the value says what is wrong inside it (a wrong type
    # deeper down, `ahead: "yes"` in a mapping, is such an error too).
    depth = len(error.absolute_path)
    fitting = [e for e in error.context or [] if e.validator != "type" or len(e.absolute_path) > depth]
    if fitting:
        best = max(fitting, key=lambda e: len(e.absolute_path))
        return _diagnose(doc, best)
    kinds = sorted({str(s.get("type")) for s in error.validator_value if "type" in s})
    return [Diagnostic(doc.path, line, col, "HT103", _must_be(where, kinds, error.instance), _describe(error.schema))]


def _invalid_value(doc: Document, error: ValidationError, where: str, line: int, col: int) -> Diagnostic:
    validator = error.validator
    value = error.instance
    if validator == "enum":
        options = [str(v) for v in error.validator_value]
        hint = did_you_mean(value, options) or _("one of: {values}", values=", ".join(options))
        return Diagnostic(doc.path, line, col, "HT104", _("{where}: '{value}' is not one of the allowed values", where=where, value=value), hint)
    if validator == "const":
        said = _("{where} must be {wanted}, not {value}", where=where, wanted=repr(error.validator_value), value=repr(value))
        return Diagnostic(doc.path, line, col, "HT104", said, _describe(error.schema))
    if validator == "pattern":
        return Diagnostic(
            doc.path,
            line,
            col,
            "HT104",
            _("{where}: {value} is not in the expected form", where=where, value=repr(value)),
            _describe(error.schema) or _("it must match {pattern}", pattern=error.validator_value),
        )
    if validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        bound = {
            "minimum": N_("{where} must be at least {bound}, not {value}"),
            "maximum": N_("{where} must be at most {bound}, not {value}"),
            "exclusiveMinimum": N_("{where} must be more than {bound}, not {value}"),
            "exclusiveMaximum": N_("{where} must be less than {bound}, not {value}"),
        }[str(validator)]
        said = _(bound, where=where, bound=error.validator_value, value=value)
        return Diagnostic(doc.path, line, col, "HT104", said, _describe(error.schema))
    if validator in ("minItems", "minProperties", "minLength"):
        return Diagnostic(doc.path, line, col, "HT104", _("{where} must not be empty", where=where), _describe(error.schema))
    if validator == "uniqueItems":
        return Diagnostic(doc.path, line, col, "HT104", _("{where} lists the same value twice", where=where), _("remove the repeated value"))
    return Diagnostic(doc.path, line, col, "HT104", f"{where}: {error.message}", _describe(error.schema))


def _describe(schema: dict[str, Any]) -> str:
    text = lookup(str(schema["description"])) if schema.get("description") else ""
    examples = schema.get("examples")
    if examples:
        text = _("{text} Example: {example}", text=text, example=json.dumps(examples[0], ensure_ascii=False)).strip()
    return text


def _describe_property(schema: dict[str, Any], key: str) -> str:
    prop = schema.get("properties", {}).get(key, {})
    if "$ref" in prop:
        return _("add `{key}:`", key=key)
    return _describe(prop) or _("add `{key}:`", key=key)


# What a value is and what the schema wants, as a sentence says them.
KIND_WORDS = {"playbook": N_("playbook"), "project": N_("project"), "test": N_("test")}
_FOUND = {bool: N_("true/false"), int: N_("a number"), float: N_("a number"), str: N_("text"), list: N_("a list"), dict: N_("a mapping")}
_WANTED = {
    "object": N_("a mapping"),
    "array": N_("a list"),
    "string": N_("text"),
    "integer": N_("a whole number"),
    "number": N_("a number"),
    "boolean": N_("true or false"),
    "null": N_("empty"),
}


def _json_type(value: object) -> str:
    if value is None:
        return _("empty")
    found = _FOUND.get(type(value))
    return _(found) if found else type(value).__name__


def _must_be(where: str, kinds: list[str], value: object) -> str:
    """`where must be a list or text, not a number`: the types wanted, the one found."""
    wanted = _(" or ").join(_(_WANTED[k]) if k in _WANTED else k for k in kinds)
    return _("{where} must be {wanted}, not {found}", where=where, wanted=wanted, found=_json_type(value))
