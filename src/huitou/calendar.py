"""Names a timing can anchor on: customer dates and holidays.

The planner resolves them to concrete dates; the validator only needs to know the names.
Lunar holidays (Spring Festival, Lantern, Dragon Boat, Qixi, Mid-Autumn, Double Ninth)
move every year in the Gregorian calendar; fixed ones do not.
"""

from __future__ import annotations

CUSTOMER_DATES = {
    "birthday": "the customer's birthday (29 February falls on 28 February in other years)",
    "first_order_anniversary": "the yearly anniversary of the first purchase",
    "last_order": "the date of the latest purchase",
    "last_delivery": "the date of the latest delivery",
    "purchase_due": "last purchase date + purchase_cycle_days",
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


def anchor_kind(anchor: str) -> str | None:
    """'date', 'customer', 'holiday', or None for an unknown anchor.

    >>> anchor_kind("2026-11-11"), anchor_kind("birthday"), anchor_kind("mid_autumn"), anchor_kind("xmas")
    ('date', 'customer', 'holiday', None)
    """
    if len(anchor) == 10 and anchor[4] == "-" and anchor[7] == "-" and anchor.replace("-", "").isdigit():
        return "date"
    if anchor in CUSTOMER_DATES:
        return "customer"
    if anchor in HOLIDAYS:
        return "holiday"
    return None
