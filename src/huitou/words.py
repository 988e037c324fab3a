"""The plan's and the ledger's words as a person reads them, in the chosen language.

A plan file, the ledger and JSON output keep the words of vocabulary.py (`send`,
`no_consent`, `sent`): tools and people grep for them. Where a person reads them - the dry
run, the send report, the ledger's table - `said(word)` gives the word in the chosen
language; in English it is the word itself, so the English output is what it was.

>>> said("no_consent"), said("something else")
('no_consent', 'something else')
"""

from __future__ import annotations

from .i18n import N_, _

# Each word huitou writes (vocabulary.py), marked for the catalog: a translation says
# what it means, in a few words.
WORDS = {
    # Status
    N_("send"),
    N_("suppressed"),
    N_("holdout"),
    # Reason
    N_("opted_out"),
    N_("already_sent"),
    N_("quiet_hours"),
    N_("no_contact"),
    N_("invalid_phone"),
    N_("invalid_email"),
    N_("no_consent"),
    N_("frequency_cap"),
    N_("care_first"),
    N_("render_error"),
    N_("sms_too_long"),
    # Intent
    N_("care"),
    N_("service"),
    N_("promotion"),
    # State
    N_("pending"),
    N_("sending"),
    N_("sent"),
    N_("failed"),
    N_("skipped"),
}


def said(word: str) -> str:
    """A plan's or the ledger's word as the chosen language says it."""
    return _(word) if word in WORDS else word


def counted(counts: dict[str, int]) -> str:
    """`1,234 send, 56 suppressed`: a count per word, or `no candidates` when none."""
    return _(", ").join(_("{n:,} {word}", n=n, word=said(word)) for word, n in counts.items()) or _("no candidates")
