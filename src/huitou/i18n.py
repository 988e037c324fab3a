"""The language huitou speaks: English, Simplified Chinese or Japanese.

Every sentence a user reads is written in English in the code, marked `_("...")` (or
`n_(...)` where a count changes the words, `N_("...")` where it is only marked and
translated where it is shown), and looked up in the chosen language's gettext catalog:
src/huitou/locale/<lang>/LC_MESSAGES/huitou.po, compiled to huitou.mo beside it
(tools/catalog.py extracts, updates and compiles them). A sentence's values are named
fields, `_("unknown channel '{channel}'", channel=name)`, so a translation may put them
in its own order. Codes, keys, column names and JSON field names are never translated.

The language is chosen once per command (cli.main), in this order: `--lang`, then
HUITOU_LANG, then huitou.yaml's `language:`, then the environment's locale (LC_ALL,
LC_MESSAGES, LANG), else English.

>>> with speaking("ja"):
...     language()
'ja'
>>> language(), _("{word} stays {word}", word="huitou")
('en', 'huitou stays huitou')
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import gettext
import os
import re
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

# The languages huitou speaks, by the tag users write (BCP 47), and their catalogs' folders.
LANGUAGES = {"en": "en", "zh-CN": "zh_CN", "ja": "ja"}
DOMAIN = "huitou"
ENV_VAR = "HUITOU_LANG"

_ENGLISH = gettext.NullTranslations()  # the code's own words; never changed
_catalog: contextvars.ContextVar[gettext.NullTranslations] = contextvars.ContextVar("huitou_catalog", default=_ENGLISH)  # noqa: B039
_language: contextvars.ContextVar[str] = contextvars.ContextVar("huitou_language", default="en")


def N_(message: str) -> str:
    """Mark `message` for the catalog without translating it here (a constant translated
    where it is shown)."""
    return message


def _(message: str, /, **fields: object) -> str:
    """`message` in the chosen language, its `{fields}` filled in. Every message is a
    format string: a brace it shows is written twice, `{{`."""
    return _catalog.get().gettext(message).format(**fields)


def lookup(text: str) -> str:
    """A text of the catalog that is not a format string (a schema's description, a help
    text), in the chosen language as it is written."""
    return _catalog.get().gettext(text)


def n_(singular: str, plural: str, n: int, /, **fields: object) -> str:
    """The form of `singular`/`plural` that goes with `n` in the chosen language; `{n}`
    and the other `fields` filled in."""
    return _catalog.get().ngettext(singular, plural, n).format(n=n, **fields)


def language() -> str:
    """The tag of the language chosen: en, zh-CN or ja."""
    return _language.get()


def tag_of(text: str) -> str | None:
    """The language huitou speaks that a tag or locale names, if any: `zh_CN.UTF-8`,
    `zh-Hans`, `zh` -> zh-CN; `ja_JP` -> ja; `en_GB` -> en. Traditional Chinese (TW, HK,
    MO, Hant) is not zh-CN, and C/POSIX name no language.

    >>> [tag_of(t) for t in ("zh_CN.UTF-8", "ja-JP", "en_US", "zh_TW", "C", "de")]
    ['zh-CN', 'ja', 'en', None, None, None]
    """
    base = text.split(".")[0].split("@")[0].replace("_", "-").lower()
    lang, _sep, rest = base.partition("-")
    if lang == "zh":
        return None if any(part in ("tw", "hk", "mo", "hant") for part in rest.split("-")) else "zh-CN"
    return lang if lang in ("en", "ja") else None


class UnknownLanguage(ValueError):
    """--lang or HUITOU_LANG names a language huitou does not speak."""


def choose(flag: str | None, environ: Mapping[str, str], configured: object = None) -> str:
    """The language of a command: `flag` (--lang), then HUITOU_LANG, then `configured`
    (huitou.yaml's `language:`), then the locale the environment sets, else en. An
    explicit choice huitou does not speak is refused; a locale it does not speak means
    English (a German machine reads English, not an error)."""
    for source, value in (("--lang", flag), (ENV_VAR, environ.get(ENV_VAR))):
        if value:
            found = tag_of(value)
            if found is None:
                raise UnknownLanguage(f"{source} {value!r}: huitou speaks {', '.join(LANGUAGES)}")
            return found
    if isinstance(configured, str) and tag_of(configured):
        return str(tag_of(configured))
    locale = next((environ[name] for name in ("LC_ALL", "LC_MESSAGES", "LANG") if environ.get(name)), "")
    return tag_of(locale) or "en"


_LANGUAGE_KEY = re.compile(r"""^language:[ \t]*(["']?)([A-Za-z_-]{1,16})\1[ \t]*(?:#.*)?$""", re.MULTILINE)


def configured_language(start: Path) -> str | None:
    """huitou.yaml's top-level `language:` for a command started in `start`, found in its
    text before the project is loaded: the file is not parsed here (a YAML bomb in it is
    the loader's to refuse, with a line and column), and only its first 64 KiB are read.
    None when there is no file or no such line: validate reports what is wrong with the
    file, in the language chosen without it."""
    from .project import CONFIG_NAME, find_root

    root = find_root(start)
    if root is None:
        return None
    try:
        with open(root / CONFIG_NAME, encoding="utf-8", errors="replace") as config:
            found = _LANGUAGE_KEY.search(config.read(1 << 16))
    except OSError:
        return None
    return found.group(2) if found else None


@functools.cache
def catalog(tag: str) -> gettext.NullTranslations:
    """The compiled catalog of a language (English is the code's own words)."""
    if tag == "en":
        return _ENGLISH
    folder = resources.files("huitou").joinpath("locale", LANGUAGES[tag], "LC_MESSAGES", f"{DOMAIN}.mo")
    with folder.open("rb") as compiled:
        return gettext.GNUTranslations(compiled)


@contextlib.contextmanager
def speaking(tag: str) -> Iterator[None]:
    """Speak `tag` inside the block: huitou's sentences and click's own (usage, errors)."""
    tokens = _language.set(tag), _catalog.set(catalog(tag))
    with _click_speaking() if tag != "en" else contextlib.nullcontext():
        try:
            yield
        finally:
            _catalog.reset(tokens[1])
            _language.reset(tokens[0])


@contextlib.contextmanager
def _click_speaking() -> Iterator[None]:
    """click writes its own words (`Usage:`, `Options`, `Error: No such option`) through
    gettext's global functions, bound in each of its modules as `_` and `ngettext`: they
    are pointed at huitou's catalog for the command (huitou's catalog carries them,
    tools/catalog.py CLICK_MESSAGES) and given back after."""
    import sys

    modules = [module for name, module in list(sys.modules.items()) if name.startswith("click.") and module is not None]
    patched: list[tuple[Any, str, Any]] = []
    for module in modules:
        for name, ours in (("_", lambda message: _catalog.get().gettext(message)), ("ngettext", lambda s, p, n: _catalog.get().ngettext(s, p, n))):
            if getattr(module, name, None) in (gettext.gettext, gettext.ngettext):
                patched.append((module, name, getattr(module, name)))
                setattr(module, name, ours)
    try:
        yield
    finally:
        for module, name, original in patched:
            setattr(module, name, original)


def for_command(argv: list[str], environ: Mapping[str, str] = os.environ, start: Path | None = None) -> tuple[str, list[str]]:
    """The language a command line asks for and the line without `--lang` (accepted
    anywhere before `--`, so `huitou validate --lang ja` and `huitou --lang ja validate`
    both work)."""
    rest, flag, i = [], None, 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        if arg == "--lang" and i + 1 < len(argv):
            flag, i = argv[i + 1], i + 2
            continue
        if arg.startswith("--lang="):
            flag, i = arg.partition("=")[2], i + 1
            continue
        rest.append(arg)
        i += 1
    configured = None if flag or environ.get(ENV_VAR) else configured_language(start or Path.cwd())
    return choose(flag, environ, configured), rest


# Babel's locales for the languages' forms of dates and money (English keeps huitou's own:
# ISO dates, `1,234.50 CNY`, which its goldens and its users' scripts read).
_BABEL = {"zh-CN": "zh_Hans_CN", "ja": "ja_JP"}


def said_date(value: object) -> str:
    """A date as the chosen language writes it: `2026-11-01`, `2026年11月1日`.

    >>> import datetime
    >>> with speaking("zh-CN"):
    ...     said_date(datetime.date(2026, 11, 1))
    '2026年11月1日'
    """
    import datetime as dt

    if language() == "en":
        return str(value)
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            return str(value)
    if not isinstance(value, dt.date):
        return str(value)
    from babel.dates import format_date

    return str(format_date(value, format="long", locale=_BABEL[language()]))


def money(amount: float, currency: str | None) -> str:
    """An amount as the chosen language writes money: `1,234.50 CNY`; `¥1,234.50`.

    >>> with speaking("zh-CN"):
    ...     money(1234.5, "CNY")
    '¥1,234.50'
    >>> money(1234.5, "CNY"), money(-3, None)
    ('1,234.50 CNY', '-3.00')
    """
    if language() == "en" or not currency:
        return f"{amount:,.2f}" + (f" {currency}" if currency else "")
    from babel.numbers import format_currency

    return str(format_currency(amount, currency, locale=_BABEL[language()]))
