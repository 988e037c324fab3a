"""The project: huitou.yaml, where playbooks and templates live, and the channels.

A directory without huitou.yaml is still a project, with the defaults below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .features import Feature, catalog_with
from .loader import Document

CONFIG_NAME = "huitou.yaml"
CHANNEL_KINDS = ("sms", "email", "wechat", "im", "phone", "parcel_insert")
DEFAULT_CONTACT = {"sms": "phone", "email": "email", "wechat": "wechat_id", "im": "wechat_id", "phone": "phone", "parcel_insert": "customer_id"}


@dataclass
class Project:
    root: Path
    config: dict[str, Any] = field(default_factory=dict)
    config_doc: Document | None = None

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
        fields = ((self.config.get("data") or {}).get("customers") or {}).get("fields")
        return catalog_with(fields)

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
