"""The project: huitou.yaml, where playbooks and templates live, and the channels.

A directory without huitou.yaml is still a project, with the defaults below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .features import CATALOG, Feature, catalog_with
from .templates import find_template

CONFIG_NAME = "huitou.yaml"
CHANNEL_KINDS = ("sms", "email", "wechat", "im", "phone", "parcel_insert")


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
