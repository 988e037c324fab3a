"""The words huitou writes in a plan file and the send ledger, as enums: what a row's
status, reason and intent and a message's state may be. Each member is the string the
file holds (a StrEnum equals its word), so the files are unchanged. SQL spells them in
its text; tests/test_vocabulary.py fails when it spells a word that is not here.

Imports nothing: `huitou validate`'s checks read intents without loading the planner.

>>> Status.SEND == "send", list(Intent)
(True, [<Intent.CARE: 'care'>, <Intent.SERVICE: 'service'>, <Intent.PROMOTION: 'promotion'>])
"""

from __future__ import annotations

import enum


class OrderStatus(enum.StrEnum):
    """An order's status, as huitou reads it (csv `values:` maps a shop's own words to these)."""

    PAID = "paid"
    UNPAID = "unpaid"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


class Status(enum.StrEnum):
    """A plan row's outcome."""

    SEND = "send"
    SUPPRESSED = "suppressed"
    HOLDOUT = "holdout"  # the control group: planned, not sent, measured (report --effect)


class Reason(enum.StrEnum):
    """Why a row is suppressed, in the order the stages decide it (docs/plan.md)."""

    # the candidates stage (each customer's contact, consent and history)
    OPTED_OUT = "opted_out"
    ALREADY_SENT = "already_sent"
    QUIET_HOURS = "quiet_hours"
    NO_CONTACT = "no_contact"
    INVALID_PHONE = "invalid_phone"
    INVALID_EMAIL = "invalid_email"
    NO_CONSENT = "no_consent"
    # arbitration
    FREQUENCY_CAP = "frequency_cap"
    CARE_FIRST = "care_first"
    # rendering
    RENDER_ERROR = "render_error"
    SMS_TOO_LONG = "sms_too_long"


class Intent(enum.StrEnum):
    """What a rule's message is for; care goes before promotion on a tie."""

    CARE = "care"
    SERVICE = "service"
    PROMOTION = "promotion"


class State(enum.StrEnum):
    """A message's state in the send ledger."""

    PENDING = "pending"  # due now or later, waiting for a retry or a quiet hour's end
    SENDING = "sending"  # handed to the channel; a crash leaves it here, the next run resends it
    SENT = "sent"
    FAILED = "failed"  # out of attempts (huitou send --retry-failed)
    SKIPPED = "skipped"  # withdrawn, opted out, expired or dropped in quiet hours
