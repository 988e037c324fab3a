"""What every playbook check sees: the document, the project, parsed segments and rules."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..diagnostics import Diagnostic
from ..i18n import _
from ..loader import Document
from ..predicates import PredicateError, parse
from ..predicates.ast import Expr
from ..project import Project

DataPath = tuple[str | int, ...]


@dataclass
class Predicate:
    """A predicate string at a place in a document, parsed."""

    text: str
    path: DataPath
    tree: Expr | PredicateError


@dataclass
class PlaybookContext:
    doc: Document
    project: Project
    # Filled by the project-wide pass: the distinct care-rule segments of every playbook,
    # in normal form (see checks.care_first); None stands for "could be anything".
    care_forms: list[Any] | None = None

    @property
    def data(self) -> dict[str, Any]:
        return self.doc.data

    @property
    def name(self) -> str:
        return str(self.data.get("name", ""))

    @property
    def locale(self) -> str:
        return str(self.data.get("locale", self.project.default_locale))

    @property
    def rules(self) -> list[dict[str, Any]]:
        return list(self.data.get("rules") or [])

    @cached_property
    def segments(self) -> dict[str, Predicate]:
        out = {}
        for name, value in (self.data.get("segments") or {}).items():
            path: DataPath = ("segments", name)
            if isinstance(value, dict):
                value, path = value["where"], (*path, "where")
            out[name] = Predicate(value, path, parse(value))
        return out

    @cached_property
    def rule_segments(self) -> list[Predicate]:
        return [Predicate(r["segment"], ("rules", i, "segment"), parse(r["segment"])) for i, r in enumerate(self.rules)]

    def at(self, path: DataPath, code: str, message: str, hint: str = "", *, at_key: bool = False, severity: str = "") -> Diagnostic:
        line, col = self.doc.position(path, at_key=at_key)
        return Diagnostic(self.doc.path, line, col, code, message, hint, severity)

    def in_predicate(self, pred: Predicate, offset: int, code: str, message: str, hint: str = "") -> Diagnostic:
        line, col = self.doc.scalar_position(pred.path, offset)
        return Diagnostic(self.doc.path, line, col, code, message, hint)

    def rule_label(self, index: int) -> str:
        return _("rule '{id}'", id=self.rules[index].get("id", index))
