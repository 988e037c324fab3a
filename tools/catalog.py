"""The message catalogs: every sentence huitou says, in each language it speaks.

Extracts the sentences marked in src/huitou (`_`, `n_`, `N_`), the command line's help
texts, the JSON Schemas' titles and descriptions (the editor's hover texts and the hints
of HT1xx) and click's own words into src/huitou/locale/huitou.pot; merges that into each
language's huitou.po, keeping its translations; compiles each .po to the huitou.mo the
package ships.

    python tools/catalog.py           # extract, merge, compile
    python tools/catalog.py --check   # exit 1 naming what is stale, missing or wrong

The .po files are the translations' source: edit them, then run this script.
"""

from __future__ import annotations

import datetime
import io
import json
import string
import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "huitou"
LOCALE = PACKAGE / "locale"
TEMPLATE = LOCALE / "huitou.pot"
KEYWORDS = {"_": None, "N_": None, "n_": (1, 2)}
# The headers' dates are fixed: a date of each run would change every file each time.
STAMP = datetime.datetime(2026, 12, 8, tzinfo=datetime.UTC)
# catalog folder: (Babel locale, for the plural rules; the tag users write)
LANGUAGES = {"zh_CN": ("zh_Hans_CN", "zh-CN"), "ja": ("ja_JP", "ja")}

# click's own words a huitou user meets: the help page's headings, its usage errors. They
# are click's msgids, of click 8.1 (the lowest bound) and of the newest where it reworded
# one; tests/test_i18n.py checks the installed click has no other such words.
CLICK_MESSAGES: list[str | tuple[str, str]] = [
    "Usage:",
    "Options",
    "Commands",
    "Show this message and exit.",
    "Aborted!",
    "Error: {message}",
    "Try '{command} {option}' for help.",
    "Invalid value: {message}",
    "Invalid value for {param_hint}: {message}",
    "Missing argument",
    "Missing option",
    "Missing parameter",
    "Missing command.",
    "No such option: {name}",  # click 8.1
    "No such option {name!r}.",  # click 8.2 and later
    "No such command {name!r}.",
    ("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)"),
    ("Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})"),
    ("Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments."),
    ("{value!r} is not {choice}.", "{value!r} is not one of {choices}."),
    "{value!r} is not a valid {number_type}.",
    "{value} is not in the range {range}.",
    "default: {default}",
    "required",
]


def python_messages() -> Iterator[tuple[str | tuple[str, str], str]]:
    """(msgid, where) of each sentence marked in the package's code."""
    for filename, _lineno, message, _comments, _context in extract_from_dir(PACKAGE, keywords=KEYWORDS):
        yield message, f"src/huitou/{filename}"


def help_messages() -> Iterator[tuple[str, str]]:
    """(msgid, where) of each help text of the command line."""
    sys.path.insert(0, str(PACKAGE.parent))
    from huitou.cli import app
    from huitou.cli_options import helped

    for item in helped(app):
        yield str(item.help), "huitou --help"


def schema_messages() -> Iterator[tuple[str, str]]:
    """(msgid, where) of each title, description and errorMessage of the JSON Schemas."""
    for path in sorted((PACKAGE / "schemas").glob("*.json")):
        yield from ((text, f"src/huitou/schemas/{path.name}") for text in schema_texts(json.loads(path.read_text(encoding="utf-8"))))


def preset_messages() -> Iterator[tuple[str, str]]:
    """(msgid, where) of each export preset's title and notes (what `huitou init --from`
    says of the platform it recognised)."""
    import yaml

    for path in sorted((PACKAGE / "exports" / "presets").glob("*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        where = f"src/huitou/exports/presets/{path.name}"
        yield from ((text, where) for text in [spec["title"], *(spec.get("quirks") or [])])


def schema_texts(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("title", "description", "errorMessage") and isinstance(value, str):
                yield value
            else:
                yield from schema_texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from schema_texts(value)


def extracted() -> Catalog:
    """The catalog template as the code and the schemas stand."""
    template = Catalog(project="huitou", version="1", domain="huitou", fuzzy=False, creation_date=STAMP, revision_date=STAMP)
    for messages in (python_messages(), help_messages(), schema_messages(), preset_messages(), ((m, "click") for m in CLICK_MESSAGES)):
        for message, where in messages:
            template.add(message, locations=[(where, None)])
    return template


def formatted(message: Message) -> bool:
    """Whether a message is a format string: the code's sentences and click's are (their
    `{fields}` are filled in); help texts and the schemas' texts are shown as written."""
    return any(where.endswith(".py") or where == "click" for where, _line in message.locations)


def fields(text: str) -> list[str]:
    """The `{fields}` a sentence fills in, in order (empty when it has none or is not a
    format string)."""
    try:
        return [name for _text, name, _spec, _conv in string.Formatter().parse(text) if name is not None]
    except ValueError:
        return []


def _po_bytes(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_po(out, catalog, width=0, sort_output=True, include_lineno=False, omit_header=False, ignore_obsolete=True)
    return out.getvalue()


def _mo_bytes(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def compiled_messages(mo: bytes) -> dict[object, str]:
    """What a compiled catalog says, message by message, without its header (Babel's
    versions write the same messages in other bytes)."""
    import gettext

    said = dict(gettext.GNUTranslations(io.BytesIO(mo))._catalog)  # type: ignore[attr-defined]
    said.pop("", None)
    return said


def merged(folder: str, template: Catalog) -> Catalog:
    """The language's catalog brought up to `template`: new sentences untranslated, gone
    ones dropped, translations kept."""
    po = LOCALE / folder / "LC_MESSAGES" / "huitou.po"
    if po.exists():
        with po.open("rb") as f:
            catalog = read_po(f, locale=LANGUAGES[folder][0], domain="huitou")
    else:
        catalog = Catalog(locale=LANGUAGES[folder][0], domain="huitou", project="huitou", version="1")
    catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
    catalog.revision_date = catalog.creation_date = STAMP
    catalog.fuzzy = False
    return catalog


def problems() -> list[str]:
    """What is stale, missing or wrong in the committed catalogs (empty when none)."""
    found = []
    template = extracted()
    expected = {_key(m.id) for m in template if m.id}
    committed = read_po(TEMPLATE.open("rb")) if TEMPLATE.exists() else Catalog()
    if {_key(m.id) for m in committed if m.id} != expected:
        found.append(f"{TEMPLATE.relative_to(ROOT)} is stale: run python tools/catalog.py")
    for folder in LANGUAGES:
        po = LOCALE / folder / "LC_MESSAGES" / "huitou.po"
        if not po.exists():
            found.append(f"{po.relative_to(ROOT)} is missing")
            continue
        with po.open("rb") as f:
            catalog = read_po(f, locale=LANGUAGES[folder][0])
        ids = {_key(m.id) for m in catalog if m.id}
        found += [f"{folder}: not in the catalog: {m!r}" for m in sorted(expected - ids, key=str)]
        for message in catalog:
            if message.id:
                found += [f"{folder}: {p}" for p in message_problems(message)]
        mo = po.with_suffix(".mo")
        if not mo.exists() or compiled_messages(mo.read_bytes()) != compiled_messages(_mo_bytes(catalog)):
            found.append(f"{mo.relative_to(ROOT)} is not compiled from its .po: run python tools/catalog.py")
        for path, text in translated_schemas(folder, catalog).items():
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                found.append(f"{path.relative_to(ROOT)} is not generated from {po.name}: run python tools/catalog.py")
    return found


def message_problems(message: object) -> list[str]:
    """An untranslated, fuzzy or mis-filled translation of one message."""
    ids = message.id if isinstance(message.id, tuple) else (message.id,)  # type: ignore[attr-defined]
    strings = message.string if isinstance(message.string, tuple) else (message.string,)  # type: ignore[attr-defined]
    if message.fuzzy or not all(strings):  # type: ignore[attr-defined]
        return [f"no translation of {ids[0]!r}"]
    if not formatted(message):  # type: ignore[arg-type]
        return []
    # A plural's translation fills the fields of one of the English forms (Chinese and
    # Japanese have one form for every count, `{n} files` as well as `1 file`).
    forms = [sorted(set(fields(i))) for i in ids]
    return [
        f"{ids[0]!r}: the translation {s!r} fills {sorted(set(fields(s)))}, not {forms[0]}" for s in strings if sorted(set(fields(s))) not in forms
    ]


def _key(message_id: object) -> object:
    return message_id


def translated_schemas(folder: str, catalog: Catalog) -> dict[Path, str]:
    """Each JSON Schema with its titles, descriptions and errorMessages in the catalog's
    language (what an editor shows on hover and completion): schemas/<tag>/<name>."""
    tag = LANGUAGES[folder][1]
    out = {}
    for path in sorted((PACKAGE / "schemas").glob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        _translate(schema, catalog)
        if "$id" in schema:
            schema["$id"] = schema["$id"].replace("/schemas/", f"/schemas/{tag}/")
        out[ROOT / "schemas" / tag / path.name] = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    return out


def _translate(node: object, catalog: Catalog) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("title", "description", "errorMessage") and isinstance(value, str):
                node[key] = catalog[value].string if catalog.get(value) is not None and catalog[value].string else value
            else:
                _translate(value, catalog)
    elif isinstance(node, list):
        for value in node:
            _translate(value, catalog)


def write() -> None:
    template = extracted()
    TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
    TEMPLATE.write_bytes(_po_bytes(template))
    for folder in LANGUAGES:
        catalog = merged(folder, template)
        po = LOCALE / folder / "LC_MESSAGES" / "huitou.po"
        po.parent.mkdir(parents=True, exist_ok=True)
        po.write_bytes(_po_bytes(catalog))
        po.with_suffix(".mo").write_bytes(_mo_bytes(catalog))
        for path, text in translated_schemas(folder, catalog).items():
            path.parent.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        listed = problems()
        print("\n".join(listed) or "catalogs: current and complete")
        sys.exit(1 if listed else 0)
    write()
