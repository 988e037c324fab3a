"""The report's charts: matplotlib figures written as inline SVG (text kept as text, no
font or script fetched), one function per chart."""

from __future__ import annotations

import io
import warnings
from typing import Any

from ..i18n import _, language
from ..report.effect import Effect
from ..report.repeat import PeriodRates, RepeatReport

COLOURS = {"customer": "#2563eb", "transaction": "#f59e0b", "treated": "#16a34a", "holdout": "#64748b"}


def _figure(width: float, height: float) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.subplots()


CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "Source Han Sans JP", "WenQuanYi Zen Hei")


def _cjk_fonts(figure: Any) -> None:
    """A chart in Chinese or Japanese: its texts in DejaVu Sans (the Latin text, as in
    English) with the first CJK font installed behind it for the rest."""
    if language() == "en":
        return
    from matplotlib import font_manager
    from matplotlib.text import Text

    present = {f.name for f in font_manager.fontManager.ttflist}
    family = ["DejaVu Sans", *[name for name in CJK_FONTS if name in present][:1]]
    for text in figure.findobj(Text):
        text.set_fontfamily(family)


def _svg(figure: Any) -> str:
    import matplotlib

    out = io.StringIO()
    _cjk_fonts(figure)
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "huitou"}), warnings.catch_warnings():  # text as text; stable ids
        # Chinese and Japanese labels are laid out with a CJK font where one is installed,
        # else DejaVu's metrics (the page's CSS names the font the browser draws them in):
        # no "Glyph missing" warning reaches the command's output either way.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        figure.savefig(out, format="svg", metadata={"Date": None})
    text = out.getvalue()
    return text[text.index("<svg") :]  # the XML prolog and doctype do not belong inside HTML


def repeat_rate(periods: list[PeriodRates]) -> str:
    """Both repeat-purchase rates per period."""
    labels = [p.period for p in periods]
    figure, axes = _figure(7.5, 3.0)
    for key, name, pick in (
        ("customer", _("by customer"), lambda p: p.by_customer.rate),
        ("transaction", _("by transaction"), lambda p: p.by_transaction.rate),
    ):
        values = [pick(p) for p in periods]
        axes.plot(labels, [v * 100 if v is not None else float("nan") for v in values], marker="o", color=COLOURS[key], label=name)
    axes.set_ylabel(_("repeat purchase (%)"))
    axes.set_ylim(bottom=0)
    axes.legend(frameon=False)
    axes.tick_params(axis="x", labelrotation=45 if len(labels) > 8 else 0, labelsize=8)
    return _svg(figure)


def cohort_heatmap(report: RepeatReport, months: int = 12) -> str:
    """The share of each first-purchase cohort that bought again in month 1, 2, ..."""
    import numpy as np

    cohorts = report.cohorts[-24:]  # the latest two years: a heat map of more is unreadable
    months = max(1, min(months, max((len(c.again) for c in cohorts), default=1)))
    grid = np.full((len(cohorts), months), np.nan)
    for i, c in enumerate(cohorts):
        for k, rate in enumerate(c.again[:months]):
            grid[i, k] = (rate.rate or 0) * 100
    figure, axes = _figure(7.5, 0.8 + 0.28 * max(len(cohorts), 1))
    image = axes.imshow(grid, aspect="auto", cmap="Blues", vmin=0)
    axes.set_xticks(range(months), [f"+{k}" for k in range(1, months + 1)], fontsize=8)
    axes.set_yticks(range(len(cohorts)), [f"{c.month} ({c.customers:,})" for c in cohorts], fontsize=8)
    for i in range(len(cohorts)):
        for k in range(months):
            if not np.isnan(grid[i, k]):
                axes.text(
                    k,
                    i,
                    f"{grid[i, k]:.0f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if grid[i, k] > np.nanmax(grid) * 0.6 else "black",
                )
    figure.colorbar(image, ax=axes, label=_("bought again (%)"))
    return _svg(figure)


def uplift_bars(effects: list[Effect]) -> str:
    """Each rule's uplift in conversion with its 95% interval (error bars)."""
    shown = [e for e in effects if e.conversion is not None]
    figure, axes = _figure(7.5, 0.9 + 0.45 * max(len(shown), 1))
    names = [f"{e.playbook}/{e.rule or _('(all rules)')}" for e in shown]
    estimates = [e.conversion.estimate * 100 for e in shown if e.conversion]
    low = [(e.conversion.estimate - e.conversion.ci_low) * 100 for e in shown if e.conversion]
    high = [(e.conversion.ci_high - e.conversion.estimate) * 100 for e in shown if e.conversion]
    colours = [COLOURS["treated"] if e.evidence else COLOURS["holdout"] for e in shown]
    for y, (x, lo, hi, colour) in enumerate(zip(estimates, low, high, colours)):  # one colour per bar: evidence or not
        axes.errorbar([x], [y], xerr=[[lo], [hi]], fmt="none", ecolor=colour, capsize=4)
    axes.scatter(estimates, range(len(shown)), color=colours, zorder=3)
    axes.axvline(0, color="black", linewidth=0.8)
    axes.set_yticks(range(len(shown)), names, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel(_("uplift in conversion, percentage points (95% interval; grey: no evidence)"))
    return _svg(figure)


def funnel(effects: list[Effect]) -> str:
    """Planned -> sent -> treated customers -> converted, over the rules shown."""
    planned = sum(e.messages.planned for e in effects)
    sent = sum(e.messages.sent for e in effects)
    customers = sum(e.treated.customers for e in effects)
    converted = sum(e.treated.converted for e in effects)
    figure, axes = _figure(7.5, 2.4)
    stages = [_("planned messages"), _("sent"), _("treated customers"), _("converted")]
    values = [planned, sent, customers, converted]
    bars = axes.barh(stages, values, color=[COLOURS["customer"], COLOURS["customer"], COLOURS["treated"], COLOURS["treated"]])
    axes.bar_label(bars, labels=[f"{v:,}" for v in values], padding=3, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlim(0, max(values + [1]) * 1.15)
    return _svg(figure)
