"""HT302-HT307: rules point at things that exist - channels, templates, dates - once each."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

from ..calendar import CUSTOMER_DATES, HOLIDAYS, SHOP_DATES, anchor_kind, country_holiday_names, shop_founded, supported_countries
from ..diagnostics import Diagnostic, did_you_mean
from ..features import declared_date_fields
from ..i18n import _
from ..templates import locale_chain
from .context import PlaybookContext


def run(ctx: PlaybookContext) -> Iterator[Diagnostic]:
    yield from _duplicate_ids(ctx)
    channels = ctx.project.channels
    for i, rule in enumerate(ctx.rules):
        if rule["channel"] not in channels:
            hint = did_you_mean(rule["channel"], channels) or _("configure it under `channels:` in huitou.yaml")
            yield ctx.at(
                ("rules", i, "channel"), "HT303", _("unknown channel '{channel}' in {rule}", channel=rule["channel"], rule=ctx.rule_label(i)), hint
            )
        yield from _when(ctx, i, rule["when"])
        yield from _templates(ctx, i, rule)


def _duplicate_ids(ctx: PlaybookContext) -> Iterator[Diagnostic]:
    seen: dict[str, int] = {}
    for i, rule in enumerate(ctx.rules):
        rid = rule["id"]
        if rid in seen:
            line, _col = ctx.doc.position(("rules", seen[rid], "id"))
            yield ctx.at(
                ("rules", i, "id"),
                "HT304",
                _("rule id '{id}' is already used at line {line}", id=rid, line=line),
                _("rule ids are part of each idempotency key: give every rule its own"),
            )
        seen.setdefault(rid, i)


def _anchor_hint(anchor: str, fields: frozenset[str] = frozenset()) -> str:
    country, sep, name = anchor.partition(":")
    if sep and country.upper() in supported_countries():
        names = sorted(country_holiday_names(country.upper()))
        return did_you_mean(f"{country.upper()}:{name.lower()}", [f"{country.upper()}:{n}" for n in names]) or _(
            "{country}'s holidays: {names}", country=country.upper(), names=", ".join(names)
        )
    if sep:
        return _("'{country}' is not a country the holiday calendar knows: use an ISO 3166 code such as JP, TW, US", country=country)
    return did_you_mean(anchor, [*CUSTOMER_DATES, *sorted(fields), *SHOP_DATES, *HOLIDAYS]) or (
        _(
            "use a date (2026-11-11), a customer date (birthday, last_delivery, ... or a date field declared in huitou.yaml data.customers.fields), "
            "shop_anniversary, a holiday (spring_festival, ...) or a country's holiday (JP:respect_for_the_aged_day)"
        )
    )


def _when(ctx: PlaybookContext, i: int, when: dict[str, object]) -> Iterator[Diagnostic]:
    for key in ("on", "before", "after"):
        anchor = when.get(key)
        if not isinstance(anchor, str):
            continue
        fields = declared_date_fields(ctx.project.catalog)
        kind = anchor_kind(anchor, fields)
        path = ("rules", i, "when", key)
        if kind is None:
            hint = _anchor_hint(anchor, fields)
            yield ctx.at(path, "HT305", _("unknown date anchor '{anchor}' in {rule}", anchor=anchor, rule=ctx.rule_label(i)), hint)
        elif kind == "shop" and shop_founded(ctx.project.config) is None:
            yield ctx.at(
                path,
                "HT305",
                _("'{anchor}' in {rule} needs the shop's founding date", anchor=anchor, rule=ctx.rule_label(i)),
                _("set shop.founded: YYYY-MM-DD in huitou.yaml"),
            )
        elif kind == "date":
            try:
                dt.date.fromisoformat(anchor)
            except ValueError:
                yield ctx.at(path, "HT307", _("'{anchor}' is not a calendar date", anchor=anchor), _("check the month and day"))


def _templates(ctx: PlaybookContext, i: int, rule: dict[str, object]) -> Iterator[Diagnostic]:
    template = rule["template"]
    if isinstance(template, dict):
        when = rule["when"]
        days = when.get("days") if isinstance(when, dict) else None
        steps = {str(d) for d in (days if isinstance(days, list) else [days] if days is not None else [])}
        if set(template) != steps:
            missing = sorted(steps - set(template), key=int)
            extra = sorted(set(template) - steps, key=int)
            parts = [_("no template for day {days}", days=", ".join(missing))] if missing else []
            parts += [_("day {days} is not a step", days=", ".join(extra))] if extra else []
            yield ctx.at(
                ("rules", i, "template"),
                "HT306",
                _("per-step templates of {rule} do not match `when.days`: {problems}", rule=ctx.rule_label(i), problems=_("; ").join(parts)),
                _("give one template per day: {days}", days=", ".join(sorted(steps, key=int, reverse=True))),
            )
    for path, name in template_names(ctx, i):
        if ctx.project.find_template(ctx.locale, name) is None:
            yield ctx.at(path, "HT302", _("template '{name}' not found for locale {locale}", name=name, locale=ctx.locale), _template_hint(ctx, name))


def _template_hint(ctx: PlaybookContext, name: str) -> str:
    base = ctx.project.templates_dir
    known = [
        str(p.relative_to(base / loc))
        for loc in locale_chain(ctx.locale, ctx.project.default_locale)
        if (base / loc).is_dir()
        for p in (base / loc).rglob("*.j2")
    ]
    looked = ", ".join(ctx.project.display(base / loc / name) for loc in locale_chain(ctx.locale, ctx.project.default_locale))
    return did_you_mean(name, known) or _("looked for {paths}", paths=looked)


def template_names(ctx: PlaybookContext, i: int) -> list[tuple[tuple[str | int, ...], str]]:
    """The template names a rule gives (one, or one per countdown step), with their YAML paths."""
    template = ctx.rules[i]["template"]
    if isinstance(template, dict):
        return [(("rules", i, "template", k), str(v)) for k, v in template.items()]
    return [(("rules", i, "template"), str(template))]


def template_files(ctx: PlaybookContext, i: int) -> list[tuple[tuple[str | int, ...], Path]]:
    """Every file a rule may render, with the YAML path that names it: the template as found
    for the playbook's locale, and its variants in every other locale, since a customer's
    own locale picks the variant."""
    project = ctx.project
    out = []
    for path, name in template_names(ctx, i):
        found = project.find_template(ctx.locale, name)
        variants = [found] if found is not None else []
        variants += [d / name for d in project.template_locales() if d / name != found and project.is_file(d / name)]
        out += [(path, f) for f in variants]
    return out
