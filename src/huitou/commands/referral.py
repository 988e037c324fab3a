"""`huitou referral CODE`: whose referral code this is, the customer to credit."""

from __future__ import annotations

from ..diagnostics import ExitCode
from ..i18n import _
from ..workspace import DataOptions, Workspace
from . import echo, opened, refuse


def referral(opts: DataOptions, code: str) -> int:
    from ..data.sources import DataError
    from ..referral import configured, whose

    shop = Workspace.configured("referral").project
    if not configured(shop.config):
        raise refuse(
            "referral",
            _("huitou.yaml has no referral section: add referral: {{url: ..., secret_env: HUITOU_REFERRAL_SECRET}}"),
            ExitCode.PROBLEMS,
        )
    with opened("referral", playbooks=False) as ws:
        session = ws.load(opts, features=False)
        try:
            customer = whose(session.data.customers, shop.config, code)
        except DataError as exc:
            raise refuse("referral", str(exc)) from None
    if customer is None:
        message = _("{code} is no customer's referral code in this shop (mistyped, made up, or signed with another secret)", code=repr(code))
        raise refuse("referral", message, ExitCode.PROBLEMS)
    echo(customer)
    return ExitCode.OK
