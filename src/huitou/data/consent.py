"""Channels the data gives no consent for: said once at load and once in the plan.

Under `lawful_basis: consent` (a rule's default) a channel sends only to customers whose
consent column is true. An export without that column (Taobao's has none) makes every
candidate `no_consent`; without a word, that reads as a broken playbook.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..i18n import _

# The customer column holding consent for each channel kind (a channel may name its own).
CONSENT_BY_KIND = {
    "sms": "consent_sms",
    "phone": "consent_phone",
    "email": "consent_email",
    "wechat": "consent_wechat",
    "im": "consent_wechat",
    "parcel_insert": None,
}


def consent_columns(config: Mapping[str, Any]) -> dict[str, str]:
    """The project's channels (huitou.yaml `channels`) and the consent column of each."""
    from ..project import channel_kind

    out = {}
    for name, settings in (config.get("channels") or {}).items():
        settings = settings if isinstance(settings, dict) else {}
        column = settings.get("consent", CONSENT_BY_KIND.get(channel_kind(str(name), settings)))
        if column:
            out[str(name)] = str(column)
    return out


def absent_line(channels: Mapping[str, str], absent: Iterable[str], where: str, on_orders: bool) -> str | None:
    """The load report's line for the channels whose consent column the data lacks
    (`where`: the file; `on_orders`: the profiles come from the orders, no customers file),
    or None."""
    missing = set(absent)
    names = [name for name, column in channels.items() if column in missing]
    if not names:
        return None
    columns = sorted({channels[n] for n in names})
    mapping = (
        _("data.orders.fields: {{{column}: boolean}} and data.orders.columns: {{{column}: <your column>}}", column=columns[0])
        if on_orders
        else _("data.customers.columns: {{{column}: <your column>}}", column=columns[0])
    )
    return _(
        "no consent column for {channels}: {where} has no {columns}. Under lawful_basis: consent (a rule's default) "
        "these channels send to no one (every candidate no_consent); map the column ({mapping}), "
        "or set lawful_basis: soft_opt_in or contract on the rules where the law allows it",
        channels=", ".join(names),
        where=where,
        columns=", ".join(columns),
        mapping=mapping,
    )


def plan_note(channel: str, column: str) -> str:
    return _(
        "channel {channel}: the data has no {column} column, so under lawful_basis: consent its candidates are no_consent; "
        "map {column} in huitou.yaml's data, or set lawful_basis: soft_opt_in or contract where the law allows it",
        channel=channel,
        column=column,
    )
