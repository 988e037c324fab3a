"""The message template environment: sandboxed Jinja, strict undefined, locale filters.

Templates see a fixed set of variables (VARIABLES); the validator checks every name and
field a template uses against it, so a typo fails in CI rather than at send time.

>>> env = environment()
>>> env.from_string("{{ 12345.6 | money }}").render(locale="zh-CN")
'¥12,345.60'
>>> env.from_string("{{ '13812345678' | mask }}").render()
'138****5678'
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections import OrderedDict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from jinja2 import BaseLoader, StrictUndefined, TemplateNotFound, pass_context
from jinja2.bccache import Bucket, BytecodeCache
from jinja2.runtime import Context

from .features import CATALOG, Feature
from .inert import is_whole_phone
from .sandbox import BoundedSandbox

# Variables a template may use, and the fields of each (None: a plain value).
VARIABLES: dict[str, tuple[str, ...] | None] = {
    "customer": tuple(CATALOG),
    "shop": ("name", "url", "phone"),
    "rule": ("id", "intent", "channel", "playbook"),
    "send": ("at", "date", "step", "event", "event_date"),
    "last_order": ("order_id", "ordered_at", "amount", "status", "category", "items", "delivered_at", "rating"),  # the latest purchase
    "latest_order": ("order_id", "ordered_at", "amount", "status", "category", "items", "delivered_at", "rating"),  # of any status
    "unsubscribe_url": None,
    "locale": None,
}

CURRENCY_BY_LOCALE = {"zh": "CNY", "ja": "JPY", "en": "USD"}


def babel_locale(locale: str) -> str:
    return locale.replace("-", "_")


@functools.lru_cache(maxsize=32)
def parsed_locale(locale: str) -> Any:
    """Babel's Locale, parsed once: given a name instead, Babel lists its locale data
    directory on every call (that was most of the cost of rendering a message)."""
    from babel import Locale  # Babel's locale data loads on first use

    return Locale.parse(babel_locale(locale))


@pass_context
def money_filter(ctx: Context, value: object, currency: str | None = None) -> str:
    """An amount in the locale's currency format; exact (Decimal), never float-rounded twice."""
    from babel.numbers import format_currency

    locale = str(ctx.get("locale") or "zh-CN")
    currency = currency or str(ctx.get("currency") or CURRENCY_BY_LOCALE.get(locale.split("-")[0], "CNY"))
    return format_currency(value if isinstance(value, Decimal) else Decimal(str(value)), currency, locale=parsed_locale(locale))


@functools.lru_cache(maxsize=8192)
def _format_date(value: dt.date, fmt: str, locale: str) -> str:
    from babel.dates import format_date

    return format_date(value, fmt, locale=parsed_locale(locale))


@pass_context
def date_filter(ctx: Context, value: object, fmt: str = "long") -> str:
    locale = str(ctx.get("locale") or "zh-CN")
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    if isinstance(value, dt.datetime):
        value = value.date()
    return _format_date(value, fmt, locale)


def mask_filter(value: object) -> str:
    """Hide the middle of a phone number or the local part of an email address. A number
    in E.164 (as huitou stores phones) keeps its country code apart, as people read it.

    >>> mask_filter("+8613812341140"), mask_filter("13812341140"), mask_filter("li.lei@example.cn")
    ('+86 138****1140', '138****1140', 'l***@example.cn')
    """
    text = str(value)
    if "@" in text:
        local, _, domain = text.partition("@")
        return f"{local[:1]}***@{domain}"
    if is_whole_phone(text):
        import phonenumbers  # here: validating templates needs no phone numbers (0.02 s a start)

        number = phonenumbers.parse(text)
        national = str(number.national_number)
        return f"+{number.country_code} {mask_filter(national)}"
    if len(text) >= 7:
        return f"{text[:3]}****{text[-4:]}"
    return "*" * len(text)


_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_PHONE = re.compile(r"\+?\d[\d \-()]{5,}\d")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def mask_contacts(text: str) -> str:
    """Every email address and phone number in a text, masked (what a dry run shows:
    a template may print another contact than the row's own). A phone number has seven
    digits or more; dates are left alone.

    >>> mask_contacts("Call 138 0013 8000 or write to li.lei@example.cn by 2026-11-10.")
    'Call 138****8000 or write to l***@example.cn by 2026-11-10.'
    """

    def phone(match: re.Match[str]) -> str:
        found = match.group(0)
        if _DATE.fullmatch(found) or sum(ch.isdigit() for ch in found) < 7:
            return found
        return mask_filter(found)

    return _PHONE.sub(phone, _EMAIL.sub(lambda m: mask_filter(m.group(0)), text))


_GREETINGS = {
    "zh": ("早上好", "下午好", "晚上好"),
    "ja": ("おはようございます", "こんにちは", "こんばんは"),
    "en": ("Good morning", "Good afternoon", "Good evening"),
}


@pass_context
def greeting_filter(ctx: Context, when: object) -> str:
    """A greeting for the local time of day of a send time (datetime or "HH:MM")."""
    hour = when.hour if isinstance(when, (dt.datetime, dt.time)) else int(str(when)[:2])
    words = _GREETINGS.get(str(ctx.get("locale") or "zh-CN").split("-")[0], _GREETINGS["en"])
    return words[0] if hour < 12 else words[1] if hour < 18 else words[2]


FILTERS = {"money": money_filter, "date": date_filter, "mask": mask_filter, "greeting": greeting_filter}


class _KeptCode(BytecodeCache):
    """Compiled templates kept for the life of the process, by Jinja's key (the template's
    name and file) and the checksum of its text, so a changed file compiles again. A
    process that plans several times (huitou test, huitou diff, a Python caller) compiles
    each template once. Code only, never a rendered value; the most recent `size` kept."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self.codes: OrderedDict[str, tuple[str, Any]] = OrderedDict()

    def load_bytecode(self, bucket: Bucket) -> None:
        kept = self.codes.get(bucket.key)
        if kept is not None and kept[0] == bucket.checksum:
            self.codes.move_to_end(bucket.key)
            bucket.code = kept[1]

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.codes[bucket.key] = (bucket.checksum, bucket.code)
        self.codes.move_to_end(bucket.key)
        while len(self.codes) > self.size:
            self.codes.popitem(last=False)


# One store per kind of environment: the code Jinja writes for an autoescaping one differs.
_KEPT = {False: _KeptCode(), True: _KeptCode()}


def environment(loader: object = None, autoescape: bool = False) -> BoundedSandbox:
    """The sandbox templates render in (bounded: see sandbox.py). `autoescape`: for HTML
    (an email's html block), where every value printed is escaped unless marked safe."""
    env = BoundedSandbox(
        undefined=StrictUndefined, loader=loader, keep_trailing_newline=False, autoescape=autoescape, bytecode_cache=_KEPT[autoescape]
    )
    env.filters.update(FILTERS)
    return env


def template_fields(extra: dict[str, Feature] | None = None) -> dict[str, tuple[str, ...] | None]:
    """VARIABLES, with project-declared profile columns added to `customer`."""
    if not extra:
        return VARIABLES
    fields = dict(VARIABLES)
    fields["customer"] = tuple(dict.fromkeys([*(VARIABLES["customer"] or ()), *extra]))
    return fields


def locale_chain(locale: str, default: str | None) -> list[str]:
    """Where to look for a template: the locale, its language, then the project default."""
    chain = [locale]
    if "-" in locale:
        chain.append(locale.split("-")[0])
    if default and default not in chain:
        chain.append(default)
    return chain


def safe_name(name: str) -> bool:
    """A template name that stays inside its directory: relative, no `..`, no backslash."""
    parts = PurePosixPath(name).parts
    return bool(parts) and not name.startswith("/") and "\\" not in name and ".." not in parts and "\x00" not in name


def template_file(directory: Path, name: str) -> Path | None:
    """The regular file `name` inside `directory`, after resolving links; None when there
    is none, or when the name or a link leads outside (to /proc/self/environ, to
    huitou.yaml): templates read only what is under templates/."""
    if not safe_name(name):
        return None
    root = directory.resolve()
    try:
        real = (root / name).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, or a loop of links
        return None
    return real if real.is_relative_to(root) and real.is_file() else None


class TemplateLoader(BaseLoader):
    """Loads templates from the locale directories like Jinja's FileSystemLoader, but only
    regular files inside them after resolving links (template_file)."""

    def __init__(self, directories: list[str]) -> None:
        self.directories = [Path(d) for d in directories]

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Any]:
        for directory in self.directories:
            path = template_file(directory, template)
            if path is not None:
                mtime = path.stat().st_mtime
                return path.read_text(encoding="utf-8"), str(path), lambda path=path, mtime=mtime: path.stat().st_mtime == mtime
        raise TemplateNotFound(template)


def find_template(templates_dir: Path, locale: str, name: str, default: str | None = None) -> Path | None:
    for candidate in locale_chain(locale, default):
        path = templates_dir / candidate / name
        if template_file(templates_dir / candidate, name) is not None:
            return path
    return None


class _Reads(NamedTuple):
    refs: tuple[str | None, ...]  # the templates it includes, extends or imports (None: named at run time)
    names: frozenset[str]  # the variables it reads
    fields: frozenset[str] | None  # the `customer` fields it reads (None: any)


@functools.lru_cache(maxsize=1024)
def _reads(source: str) -> _Reads:
    """What one template's text reads and names, parsed in huitou's environment (every
    environment() parses alike). Kept by text: analysing a template costs more than
    compiling it, and a process that plans several times reads the same templates."""
    from jinja2 import meta, nodes

    tree = _parser().parse(source)
    fields: set[str] | None = set()
    accesses = [n for n in tree.find_all((nodes.Getattr, nodes.Getitem)) if isinstance(n, (nodes.Getattr, nodes.Getitem))]
    read = {id(n.node) for n in accesses}
    for name in tree.find_all(nodes.Name):
        if name.name == "customer" and name.ctx == "load" and id(name) not in read:
            fields = None  # customer used as a whole
    for access in accesses:
        if isinstance(access.node, nodes.Name) and access.node.name == "customer" and fields is not None:
            attr = access.attr if isinstance(access, nodes.Getattr) else getattr(access.arg, "value", None)
            if isinstance(attr, str):
                fields.add(attr)
            else:
                fields = None
    refs = tuple(meta.find_referenced_templates(tree))
    return _Reads(refs, frozenset(meta.find_undeclared_variables(tree)), None if fields is None else frozenset(fields))


@functools.cache
def _parser() -> BoundedSandbox:
    return environment()


def _closure(env: BoundedSandbox, name: str) -> Iterator[tuple[str, str, _Reads]]:
    """(name, source, what it reads) of a template and of every template it includes,
    extends or imports."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        source = env.loader.get_source(env, current)[0]  # type: ignore[union-attr]
        reads = _reads(source)
        yield current, source, reads
        todo += [ref for ref in reads.refs if ref is not None]


def template_sources(env: BoundedSandbox, name: str) -> dict[str, str] | None:
    """The text of a template and of every template it uses, by name; None when it names
    one at run time (then any template in its directories may be the one).

    >>> from jinja2 import DictLoader
    >>> env = environment(DictLoader({"a": "{% include 'b' %}!", "b": "hi", "c": "{% include x %}"}))
    >>> template_sources(env, "a"), template_sources(env, "c")
    ({'a': "{% include 'b' %}!", 'b': 'hi'}, None)
    """
    sources = {}
    for current, source, reads in _closure(env, name):
        if None in reads.refs:
            return None
        sources[current] = source
    return sources


def template_uses(env: BoundedSandbox, name: str) -> tuple[set[str], set[str] | None]:
    """The variables a template (and what it includes, extends or imports) reads, and the
    `customer` fields it reads - None when it may read any (`customer` passed whole,
    indexed by a variable, or a template named at run time).

    >>> from jinja2 import DictLoader
    >>> env = environment(DictLoader({"a": "{{ customer.name }}{% include 'b' %}", "b": "{{ customer['city'] }}{{ send.at }}"}))
    >>> names, fields = template_uses(env, "a")
    >>> sorted(names), sorted(fields)
    (['customer', 'send'], ['city', 'name'])
    """
    names: set[str] = set()
    fields: set[str] | None = set()
    for _, _, reads in _closure(env, name):
        names |= reads.names
        if None in reads.refs:
            return names, None
        fields = None if fields is None or reads.fields is None else fields | reads.fields
    return names, fields
