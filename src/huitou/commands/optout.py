"""`huitou optout CUSTOMER | --token TOKEN`: no later message to this customer (on this
channel), planned or not."""

from __future__ import annotations

import time

from ..diagnostics import ExitCode
from ..i18n import _
from ..workspace import Workspace
from . import echo, refuse


def optout(customer: str | None, channel: str | None, token: str | None) -> int:
    from ..data.contacts import spellings
    from ..data.identity import region
    from ..delivery.channels import ConfigError, token_owner
    from ..delivery.ledger import Ledger, LedgerError, default_path
    from ..project import channels_named

    shop = Workspace.configured("optout").project
    config = shop.config
    if (customer is None) == (token is None):
        raise refuse("optout", _("give a CUSTOMER id or --token TOKEN (one of them)"))
    source = "huitou optout"
    if token is not None:
        try:
            customer, channel = token_owner(config.get("channels") or {}, token)
        except ConfigError as exc:
            raise refuse("optout", str(exc)) from None
        except ValueError as exc:
            raise refuse("optout", f"--token: {exc}", ExitCode.PROBLEMS) from None
        source = "unsubscribe link"
    scope: list[str | None] = [None]
    if channel is not None:
        configured = config.get("channels") or {}
        scope = list(channels_named(channel, configured))
        if not scope:
            raise refuse(
                "optout",
                _(
                    "--channel {channel}: not a channel of huitou.yaml ({channels}); give a channel's name or kind "
                    "(sms, email, phone, ...), or leave --channel out to opt out of every channel",
                    channel=channel,
                    channels=", ".join(configured) or _("none"),
                ),
            )
    try:
        book = Ledger(default_path(shop.root, config))
        now = time.time()
        # Every form the person may have in the data: the id as typed and unguarded, and
        # its phone (E.164) or email (lower case) form when it is one.
        new = book.import_optouts([(who, ch) for who in sorted(spellings(str(customer), region(config))) for ch in scope], now, source) > 0
        skipped = book.skip_opted_out(now)
        book.vouch()
        book.close()
    except LedgerError as exc:
        raise refuse("optout", _("not recorded: {reason}", reason=exc)) from None
    what = _("channel {channels}", channels=", ".join(str(c) for c in scope)) if channel else _("every channel")
    done = _("recorded") if new else _("already recorded")
    echo(
        _(
            "{done}: customer {customer} opted out of {what}; {skipped:,} planned message(s) skipped",
            done=done,
            customer=customer,
            what=what,
            skipped=skipped,
        )
    )
    return ExitCode.OK
