"""Names a timing can anchor on: customer dates and holidays, and their dates.

The validator only needs the names; the planner resolves holidays to dates with
`holiday_date`. China's statutory holidays (New Year, Spring Festival, Qingming, Labour
Day, Dragon Boat, Mid-Autumn, National Day) come from the `holidays` library, which
tracks the State Council's calendar (Qingming is a solar term, the others lunar or
fixed); the lunar observances that are not days off (Lantern, Qixi, Double Ninth) from
`lunardate`; shopping festivals and Western days are fixed or computed here.

Any other country's public holidays are anchors of the form `CC:name`: the ISO 3166
country code and the holiday's English name in the `holidays` library, in lower case with
`_` for anything else (`JP:respect_for_the_aged_day`, `TW:national_day`,
`US:thanksgiving_day`). Observed (moved) days are not separate anchors.

>>> holiday_date("spring_festival", 2027), holiday_date("qixi", 2026), holiday_date("mothers_day", 2026)
(datetime.date(2027, 2, 6), datetime.date(2026, 8, 19), datetime.date(2026, 5, 10))
>>> holiday_date("JP:respect_for_the_aged_day", 2026), holiday_date("TW:national_day", 2026)
(datetime.date(2026, 9, 21), datetime.date(2026, 10, 10))
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from collections.abc import Collection
from typing import Any

CUSTOMER_DATES = {
    "birthday": "the customer's birthday (29 February falls on 28 February in other years)",
    "first_order_anniversary": "the yearly anniversary of the first purchase",
    "last_order": "the date of the latest purchase",
    "last_delivery": "the date of the latest delivery",
    "purchase_due": "last purchase date + purchase_cycle_days",
}

SHOP_DATES = {
    "shop_anniversary": "the yearly anniversary of the shop's founding (huitou.yaml shop.founded; 29 February falls on 28 February in other years)",
}

HOLIDAYS = {
    "new_year": "1 January",
    "spring_festival": "Chinese New Year, lunar 1/1",
    "lantern": "Lantern Festival, lunar 1/15",
    "valentines": "14 February",
    "womens_day": "8 March",
    "qingming": "Qingming, the solar term around 4-5 April",
    "labour_day": "1 May",
    "mothers_day": "second Sunday of May",
    "dragon_boat": "Dragon Boat Festival, lunar 5/5",
    "618": "the 6.18 shopping festival, 18 June",
    "fathers_day": "third Sunday of June",
    "qixi": "Qixi (Chinese Valentine's Day), lunar 7/7",
    "mid_autumn": "Mid-Autumn Festival, lunar 8/15",
    "national_day": "1 October",
    "double_ninth": "Double Ninth Festival, lunar 9/9",
    "double11": "Singles' Day, 11 November",
    "double12": "12 December",
    "christmas": "25 December",
}


def anchor_kind(anchor: str, date_fields: Collection[str] = ()) -> str | None:
    """'date', 'customer' (a customer date, built in or a declared date field), 'shop',
    'holiday', or None for an unknown anchor.

    >>> anchor_kind("2026-11-11"), anchor_kind("birthday"), anchor_kind("mid_autumn"), anchor_kind("xmas")
    ('date', 'customer', 'holiday', None)
    >>> anchor_kind("points_expire_on", {"points_expire_on"}), anchor_kind("shop_anniversary")
    ('customer', 'shop')
    """
    if len(anchor) == 10 and anchor[4] == "-" and anchor[7] == "-" and anchor.replace("-", "").isdigit():
        return "date"
    if anchor in CUSTOMER_DATES or anchor in date_fields:
        return "customer"
    if anchor in SHOP_DATES:
        return "shop"
    if anchor in HOLIDAYS or _country_anchor(anchor) is not None:
        return "holiday"
    return None


def shop_founded(config: dict[str, Any]) -> dt.date | None:
    """huitou.yaml shop.founded, the date the `shop_anniversary` anchor repeats (None when
    unset or not a date: validate says so)."""
    try:
        return dt.date.fromisoformat(str((config.get("shop") or {}).get("founded")))
    except ValueError:
        return None


def yearly(day: dt.date, year: int) -> dt.date:
    """The date `day` falls on in `year`: 29 February on 28 February in other years.

    >>> yearly(dt.date(2020, 2, 29), 2026), yearly(dt.date(2019, 5, 20), 2026)
    (datetime.date(2026, 2, 28), datetime.date(2026, 5, 20))
    """
    if day.month == 2 and day.day == 29 and not calendar.isleap(year):
        return dt.date(year, 2, 28)
    return day.replace(year=year)


_COUNTRY_ANCHOR = re.compile(r"([A-Z]{2}):([a-z0-9_]+)")


def _country_anchor(anchor: str) -> tuple[str, str] | None:
    """(country, name) for a `CC:name` anchor the country's calendar has, else None."""
    match = _COUNTRY_ANCHOR.fullmatch(anchor)
    if match is None or match[1] not in supported_countries():
        return None
    return (match[1], match[2]) if match[2] in country_holiday_names(match[1]) else None


@functools.lru_cache(maxsize=1)
def supported_countries() -> frozenset[str]:
    """The country codes holidays has calendars for (and their aliases, UK for GB), from
    its registry: list_supported_countries() imports every country's module to list
    their subdivisions too (0.1-0.15 s of a start)."""
    from holidays.registry import EntityLoader

    return frozenset(EntityLoader.get_country_codes(include_aliases=True))


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower().replace("'", "")).strip("_")


@functools.lru_cache(maxsize=256)
def _country_calendar(country: str, year: int) -> dict[str, dt.date]:
    """slug -> first day of each holiday of the country in the year (English names where
    the library has them, else its default language)."""
    import holidays

    calendar = holidays.country_holidays(country, years=year)
    language = "en_US" if "en_US" in (calendar.supported_languages or ()) else None
    if language:
        calendar = holidays.country_holidays(country, years=year, language=language)
    found: dict[str, dt.date] = {}
    for day, names in sorted(calendar.items()):
        for name in names.split("; "):
            if "(observed)" not in name and "substitute" not in name.lower():
                found.setdefault(_slug(name), day)
    return found


@functools.lru_cache(maxsize=64)
def country_holiday_names(country: str) -> frozenset[str]:
    """Every holiday anchor name of the country over a span of years (some holidays are
    not held every year)."""
    this_year = dt.date.today().year
    return frozenset(name for year in range(this_year - 1, this_year + 3) for name in _country_calendar(country, year))


# Statutory holidays: their English name in the `holidays` library's calendar for China.
_STATUTORY = {
    "new_year": "New Year's Day",
    "spring_festival": "Chinese New Year (Spring Festival)",
    "qingming": "Tomb-Sweeping Day",
    "labour_day": "Labor Day",
    "dragon_boat": "Dragon Boat Festival",
    "mid_autumn": "Mid-Autumn Festival",
    "national_day": "National Day",
}
_LUNAR = {"lantern": (1, 15), "qixi": (7, 7), "double_ninth": (9, 9)}
_FIXED = {"valentines": (2, 14), "womens_day": (3, 8), "618": (6, 18), "double11": (11, 11), "double12": (12, 12), "christmas": (12, 25)}
# (month, weekday 0=Monday, which occurrence)
_NTH_WEEKDAY = {"mothers_day": (5, 6, 2), "fathers_day": (6, 6, 3)}


@functools.lru_cache(maxsize=64)
def _statutory(year: int) -> dict[str, dt.date]:
    import holidays  # loads its calendars on first use only

    found: dict[str, dt.date] = {}
    for day, name in sorted(holidays.country_holidays("CN", years=year, language="en_US").items()):
        for key, wanted in _STATUTORY.items():
            if name == wanted and key not in found:  # the first day, not "(observed)"
                found[key] = day
    return found


def holiday_date(name: str, year: int) -> dt.date | None:
    """The holiday's (first) day in `year`; None when the calendar has none that year."""
    country = _country_anchor(name)
    if country is not None:
        return _country_calendar(country[0], year).get(country[1])
    if name in _STATUTORY:
        return _statutory(year).get(name)
    if name in _LUNAR:
        from lunardate import LunarDate

        month, day = _LUNAR[name]
        try:
            return LunarDate(year, month, day).to_solar_date()
        except ValueError:  # outside the library's range (1900-2099)
            return None
    if name in _FIXED:
        return dt.date(year, *_FIXED[name])
    if name in _NTH_WEEKDAY:
        month, weekday, nth = _NTH_WEEKDAY[name]
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (nth - 1))
    raise KeyError(name)
