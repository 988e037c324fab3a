"""The project: huitou.yaml, where playbooks and templates live, and the channels.

A directory without huitou.yaml is still a project, with the defaults below.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .features import CATALOG, Feature, catalog_with
from .i18n import _
from .templates import find_template

CONFIG_NAME = "huitou.yaml"
CHANNEL_KINDS = ("sms", "email", "wechat", "im", "phone", "parcel_insert")
# What people call each kind of channel in an opt-out (a shop's own file, a form, the
# command line), in the languages huitou's shops write; compared after NFKC and casefold.
KIND_WORDS = {
    "sms": ("sms", "text", "texts", "text message", "短信", "短消息", "手机短信", "簡訊", "ショートメール", "ショートメッセージ"),
    "email": ("email", "e-mail", "mail", "邮件", "电子邮件", "郵件", "電子郵件", "メール", "電子メール", "eメール"),
    "phone": ("phone", "call", "calls", "telephone", "电话", "電話", "通话"),
    "wechat": ("wechat", "weixin", "微信"),
    "im": ("im", "chat", "line", "whatsapp", "企业微信"),
    "parcel_insert": ("parcel_insert", "parcel insert", "parcel", "insert", "包裹卡", "包裹", "同梱", "同梱物"),
}


@dataclass
class Project:
    root: Path
    config: dict[str, Any] = field(default_factory=dict)
    # Template lookups, memoized for one run: every rule of every playbook asks again.
    _found: dict[tuple[str, str], Path | None] = field(default_factory=dict, repr=False)
    _exists: dict[Path, bool] = field(default_factory=dict, repr=False)
    _locales: list[Path] | None = field(default=None, repr=False)

    def find_template(self, locale: str, name: str) -> Path | None:
        """The template for a locale, with fallback to its language and the default locale."""
        key = (locale, name)
        if key not in self._found:
            self._found[key] = find_template(self.templates_dir, locale, name, self.default_locale)
        return self._found[key]

    def is_file(self, path: Path) -> bool:
        if path not in self._exists:
            self._exists[path] = path.is_file()
        return self._exists[path]

    def template_locales(self) -> list[Path]:
        """The locale directories under the template directory."""
        if self._locales is None:
            base = self.templates_dir
            self._locales = sorted(d for d in base.iterdir() if d.is_dir()) if base.is_dir() else []
        return self._locales

    @property
    def templates_dir(self) -> Path:
        return self.root / str(self.config.get("templates", "templates"))

    @property
    def playbook_dirs(self) -> list[Path]:
        return [self.root / p for p in self.config.get("playbooks", ["rules"])]

    @property
    def default_locale(self) -> str:
        return str(self.config.get("default_locale", "zh-CN"))

    @property
    def shop(self) -> dict[str, Any]:
        return dict(self.config.get("shop") or {})

    @property
    def channels(self) -> dict[str, dict[str, Any]]:
        """Channel name -> settings (with `kind`). Built-in kinds exist even when unconfigured."""
        configured = self.config.get("channels") or {}
        out: dict[str, dict[str, Any]] = {kind: {"kind": kind} for kind in CHANNEL_KINDS}
        for name, settings in configured.items():
            settings = dict(settings or {})
            settings.setdefault("kind", name if name in CHANNEL_KINDS else None)
            out[name] = settings
        return out

    @property
    def catalog(self) -> dict[str, Feature]:
        data = self.config.get("data") or {}
        # Profile fields sit on the customers, or (without a customers file) on the orders.
        fields = {**((data.get("orders") or {}).get("fields") or {}), **((data.get("customers") or {}).get("fields") or {})}
        return catalog_with({n: str(s["type"] if isinstance(s, dict) else s) for n, s in fields.items() if n not in CATALOG})

    def display(self, path: Path) -> str:
        """A path as the user should see it: relative to the working directory when possible."""
        try:
            return str(path.resolve().relative_to(Path.cwd().resolve()))
        except ValueError:
            return str(path)


def find_root(start: Path) -> Path | None:
    """The nearest directory at or above `start` holding huitou.yaml."""
    here = start.resolve()
    if here.is_file():
        here = here.parent
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_NAME).is_file():
            return candidate
    return None


def cleartext_auth(channel: str, smtp: Mapping[str, Any]) -> str | None:
    """The problem of an SMTP setting that sends credentials without TLS, or None (huitou
    validate says it; huitou send refuses it)."""
    if smtp.get("security") == "none" and (smtp.get("username_env") or smtp.get("password_env")) and smtp.get("plaintext_auth") is not True:
        return _("channel '{channel}' logs in to its SMTP server with security: none: the password would cross the network in clear", channel=channel)
    return None


def channel_kind(name: str, config: Mapping[str, Any]) -> str:
    """A configured channel's kind: its `kind`, else its name when that is a kind."""
    return str(config.get("kind") or (name if name in CHANNEL_KINDS else ""))


def channels_named(word: str, channels: Mapping[str, Any]) -> list[str]:
    """The configured channels an opt-out's channel word means: a channel's own name in
    any letter case or width, and every channel of the kind the word names (`短信`,
    `SMS`: every SMS channel; when in doubt, the wider opt-out). Empty: the word names no
    channel here.

    >>> channels_named("ＳＭＳ", {"sms": {}, "sms_promo": {"kind": "sms"}, "email": {}})
    ['sms', 'sms_promo']
    >>> channels_named("Email", {"sms": {}, "email": {}}), channels_named("fax", {"sms": {}})
    (['email'], [])
    """
    folded = " ".join(unicodedata.normalize("NFKC", word).casefold().replace("_", " ").split())
    kinds = {kind for kind, words in KIND_WORDS.items() if folded in {w.replace("_", " ") for w in words}}
    return [
        name
        for name, config in channels.items()
        if " ".join(name.casefold().replace("_", " ").split()) == folded or channel_kind(name, config or {}) in kinds
    ]


def channel_cost(config: Mapping[str, Any], channel: str, messages: int, segments: int) -> float | None:
    """What `messages` on `channel` cost by huitou.yaml's `channels.<ch>.cost` (per message
    and per SMS segment; `segments` is the messages' count elsewhere), or None: no cost set."""
    cost = ((config.get("channels") or {}).get(channel) or {}).get("cost")
    if not cost:
        return None
    return round(float(cost.get("per_message", 0)) * messages + float(cost.get("per_segment", 0)) * segments, 4)


def channel_currency(config: Mapping[str, Any], channel: str) -> str | None:
    return (((config.get("channels") or {}).get(channel) or {}).get("cost") or {}).get("currency")
