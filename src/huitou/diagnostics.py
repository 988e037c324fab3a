"""Diagnostics: every problem huitou finds is a value, never an exception.

A check yields :class:`Diagnostic` records; reporters turn them into text, JSON,
GitHub annotations or SARIF. Codes are stable: tools and people may grep for them.

>>> d = Diagnostic("rules/a.yaml", 3, 5, "HT201", "unknown feature 'ordr_count'")
>>> d.severity, d.name
('error', 'unknown-feature')
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .i18n import N_, _


class ExitCode(enum.IntEnum):
    OK = 0
    PROBLEMS = 1
    ERROR = 2


@dataclass(frozen=True)
class Check:
    code: str
    name: str
    severity: str  # default severity: "error" or "warning"
    summary: str  # in English; `_(check.summary)` in the chosen language


# The registry of every diagnostic code. docs/checks.md documents each one; a test keeps
# the two in step. Numbering: 0xx loading, 1xx schema, 2xx predicates, 3xx references,
# 4xx templates and channels, 5xx policies and compliance.
CHECKS: dict[str, Check] = {
    c.code: c
    for c in [
        Check("HT001", "yaml-syntax", "error", N_("The file is not valid YAML.")),
        Check("HT002", "duplicate-key", "error", N_("A mapping has the same key twice.")),
        Check("HT003", "unreadable-file", "error", N_("The file cannot be read or is not UTF-8.")),
        Check("HT004", "unsupported-version", "error", N_("`version` is missing or not supported.")),
        Check("HT005", "not-a-mapping", "error", N_("The document is empty or not a mapping.")),
        Check("HT101", "unknown-key", "error", N_("A key the schema does not know.")),
        Check("HT102", "missing-key", "error", N_("A required key is missing.")),
        Check("HT103", "wrong-type", "error", N_("A value has the wrong type.")),
        Check("HT104", "invalid-value", "error", N_("A value is out of range or badly formed.")),
        Check("HT105", "mapping-does-nothing", "error", N_("A column is mapped to a field its source does not read.")),
        Check(
            "HT106",
            "data-path-not-data",
            "error",
            N_(
                "A data path that is a file of the system, a directory, a pipe, a socket or a device; templates or playbooks in a directory of the system."
            ),
        ),
        Check("HT201", "unknown-feature", "error", N_("A predicate names a feature that does not exist.")),
        Check("HT202", "predicate-syntax", "error", N_("A predicate cannot be parsed.")),
        Check("HT203", "type-mismatch", "error", N_("A comparison mixes incompatible types.")),
        Check("HT204", "unknown-value", "error", N_("A comparison uses a value the feature never takes.")),
        Check("HT205", "segment-cycle", "error", N_("Segments refer to each other in a cycle.")),
        Check(
            "HT206",
            "fitted-feature",
            "warning",
            N_("A predicate uses a feature fitted from the shop's history: empty when the shop is too small to fit."),
        ),
        Check("HT301", "unknown-segment", "error", N_("A segment name that is not defined.")),
        Check("HT302", "unknown-template", "error", N_("A template file that does not exist.")),
        Check("HT303", "unknown-channel", "error", N_("A channel that is not configured.")),
        Check("HT304", "duplicate-rule-id", "error", N_("Two rules share an id.")),
        Check("HT305", "unknown-date-anchor", "error", N_("A timing anchor that is neither a date, a customer date nor a known holiday.")),
        Check("HT306", "step-template-mismatch", "error", N_("Per-step templates do not match the timing's steps.")),
        Check("HT307", "invalid-date", "error", N_("A date that does not exist in the calendar.")),
        Check("HT401", "template-syntax", "error", N_("A template cannot be compiled.")),
        Check("HT402", "unknown-template-variable", "error", N_("A template uses a variable that is never provided.")),
        Check("HT403", "unknown-template-field", "error", N_("A template uses a field the object does not have.")),
        Check("HT404", "sms-too-long", "error", N_("An SMS can render longer than the channel's segment budget.")),
        Check("HT405", "email-template-blocks", "error", N_("An email template lacks a subject or body block.")),
        Check(
            "HT406",
            "template-reference",
            "error",
            N_("include/import/extends with a name chosen at render time, leaving templates/, or naming the template itself."),
        ),
        Check(
            "HT407",
            "template-bound",
            "error",
            N_("An expression of literals past a bound of the template sandbox (a huge power, text or range)."),
        ),
        Check("HT501", "care-first", "error", N_("A promotion reaches customers no care rule reaches.")),
        Check("HT502", "quiet-hours", "warning", N_("A send time falls inside the quiet hours.")),
        Check("HT503", "invalid-timezone", "error", N_("A timezone name that does not exist.")),
        Check("HT504", "literal-secret", "error", N_("A secret written into YAML instead of read from the environment.")),
        Check("HT505", "missing-opt-out", "error", N_("Marketing SMS without an opt-out text.")),
        Check("HT506", "no-frequency-cap", "warning", N_("Promotions without any frequency cap.")),
        Check("HT507", "quiet-hours-preset", "error", N_("Quiet hours that open hours their country preset keeps quiet.")),
        Check("HT508", "no-unsubscribe-link", "warning", N_("A promotional email template without the unsubscribe link.")),
        Check("HT509", "cleartext-credentials", "error", N_("SMTP credentials sent without TLS (security: none) and no plaintext_auth: true.")),
    ]
}


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem at one place. Lines and columns are 1-based."""

    file: str
    line: int
    column: int
    code: str
    message: str
    hint: str = ""
    severity: str = field(default="")

    def __post_init__(self) -> None:
        if not self.severity:
            object.__setattr__(self, "severity", CHECKS[self.code].severity)

    @property
    def name(self) -> str:
        return CHECKS[self.code].name

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "code": self.code,
            "name": self.name,
            "severity": self.severity,
            "message": self.message,
            "hint": self.hint,
        }


def closest(word: object, candidates: object) -> str | None:
    """The candidate closest to `word`, if any is close enough.

    >>> closest("chanel", ["channel", "segment"]), closest("zzz", ["channel"])
    ('channel', None)
    """
    import difflib

    names = [str(c) for c in candidates]  # type: ignore[attr-defined]
    close = difflib.get_close_matches(str(word), names, n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: object, candidates: object) -> str:
    """A hint naming the closest candidate, or "" when nothing is close.

    >>> did_you_mean("chanel", ["channel", "segment"])
    "did you mean 'channel'?"
    """
    found = closest(word, candidates)
    return _("did you mean '{word}'?", word=found) if found else ""
