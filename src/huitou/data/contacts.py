"""Who a customer is and how to reach them, as real exports write it: customer ids, order
ids, phone numbers and email addresses normalised once, at load (docs/data.md#identity-
and-contacts).

- **Spreadsheet guards** come off ids, order ids and phones: a leading `'` or tab, and
  `="4012..."`, which shop exports add so that Excel keeps a long number as text; so do
  the blanks around a value, and full-width digits (１３８) become ASCII. This is SQL over
  every row (`unguarded`), cheap on a clean value.
- **Phone numbers** are parsed by `phonenumbers` with the shop's region
  (`shop.country`) and written in E.164 (+8613812345678); **email addresses** are
  checked by `email-validator` (IDN domains included) and written in lower case. A
  value that is not one is set aside with its reason, never sent to. Each distinct
  value is read once: in SQL when it is in the plain form (`fast_phone`, by the
  library's own metadata patterns; `fast_email`), else in Python (`phone`, `email`:
  about 10,000 phones and 14,000 addresses a second here).
- **Ids**: an id that is an email address is compared without letter case, one written
  as an international phone number (+86 138 ...) in E.164 (`identity` in
  huitou.yaml turns either off); plain ids are only unguarded, so a numeric buyer id is
  never taken for a phone number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from phonenumbers import PhoneMetadata, PhoneNumberDesc
from sqlglot import exp

from ..contract import key_of
from ..db import tree
from ..i18n import N_, _

FULL_WIDTH = "０１２３４５６７８９＋－（）＠．　"
HALF_WIDTH = "0123456789+-()@. "
BLANKS = " \t\r\n"  # around a value: what unguarding trims
# A value a spreadsheet guard or a full-width character could be on: tested first, so a
# clean value (almost every one) costs one match and no new string.
# ="4012345678901234567" (Excel's text formula), then a leading apostrophe or tab.
_FORMULA_TEXT = r'^="(.*)"$'


def maybe_guarded(text: exp.Expr) -> exp.Expr:
    """SQL: whether a text may carry a guard, blanks or full-width characters (a guard
    is at an end; a full-width character makes the bytes outnumber the characters).
    Byte and character tests, no regular expression or substring: 10M order ids pass it
    in 0.3 s, and almost every one is clean."""
    # ord(): the first character's code (=, ', tab, line feed, carriage return, space).
    return tree(
        "(strlen(:t) <> length(:t) OR ord(:t) IN (61, 39, 9, 10, 13, 32) OR suffix(:t, ' ') OR suffix(:t, chr(9)) OR suffix(:t, chr(10)) OR suffix(:t, chr(13)))",
        t=text,
    )


def unguarded(value: exp.Expr) -> exp.Expr:
    """SQL: the text of an id, order id or phone without its spreadsheet guard, the
    blanks around it and full-width digits; NULL stays NULL."""
    text = exp.cast(value, "VARCHAR")
    fixed = tree(
        "trim(ltrim(regexp_replace(trim(translate(:text, :wide, :narrow), :blanks), :formula, '\\1'), chr(39) || chr(9)), :blanks)",
        text=text,
        wide=FULL_WIDTH,
        narrow=HALF_WIDTH,
        formula=_FORMULA_TEXT,
        blanks=BLANKS,
    )
    return tree("CASE WHEN :maybe THEN :fixed ELSE :text END", text=text, maybe=maybe_guarded(text), fixed=fixed)


# The kinds of number phonenumbers tells a valid number by (its _number_type_helper).
_NUMBER_TYPES = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail", "fixed_line", "mobile")


def phone_digits(value: exp.Expr, region: str | None) -> exp.Expr:
    """SQL: a phone as fast_phone reads it: unguarded, without separators, and without the
    shop's country code when it is written +<code> (+86 138... is read as 138...)."""
    digits = tree("regexp_replace(:v, :separators, '', 'g')", v=unguarded(value), separators=r"[ \-().]")
    code = phonenumbers.country_code_for_region(region) if region else 0
    if not code:
        return digits
    return tree("CASE WHEN starts_with(:d, :plus) THEN substr(:d, :rest) ELSE :d END", d=digits, plus=f"+{code}", rest=len(str(code)) + 2)


def fast_phone(digits: exp.Expr, region: str | None) -> exp.Expr | None:
    """SQL: the E.164 form of a phone number written as the bare national number of the
    shop's country (13812345678, 138-1234-5678, '138 1234 5678), NULL for any other
    value, which `phone` then reads in Python. A million customers' phones take 50 s of
    phonenumbers calls and 1 s this way. The test is phonenumbers' own, in its own
    metadata's patterns: the number is a valid one of the country (its length and
    pattern, general and of one kind of number) and no prefix would be taken off it (an
    international call prefix, a national prefix or carrier code), so parsing it gives
    exactly +<country code><digits> (tests/test_identity.py checks against phonenumbers).
    `digits`: phone_digits of the value, computed once. None when the region has no
    metadata."""
    metadata = PhoneMetadata.metadata_for_region(region) if region else None
    if metadata is None or metadata.general_desc is None:
        return None
    general = metadata.general_desc
    kinds = [
        _matches(digits, desc, general)
        for desc in (getattr(metadata, name) for name in _NUMBER_TYPES)
        if desc is not None and desc.national_number_pattern
    ]
    if not kinds:
        return None
    tests = [tree("regexp_full_match(:d, '[0-9]+')", d=digits), _matches(digits, general, general), exp.or_(*kinds)]
    for prefix in (metadata.international_prefix, metadata.national_prefix_for_parsing):
        if prefix:
            tests.append(tree("NOT regexp_matches(:d, :prefix)", d=digits, prefix=f"^(?:{prefix})"))
    return tree("CASE WHEN :ok THEN :cc || :d END", ok=exp.and_(*tests), cc=f"+{metadata.country_code}", d=digits)


def _matches(digits: exp.Expr, desc: PhoneNumberDesc, general: PhoneNumberDesc) -> exp.Expr:
    """phonenumbers' _is_number_matching_desc: a possible length, the whole pattern."""
    lengths = [n for n in (desc.possible_length or general.possible_length) if n > 0]
    if not lengths or not desc.national_number_pattern:
        return exp.false()
    return tree(
        "(length(:d) IN :lengths AND regexp_full_match(:d, :pattern))",
        d=digits,
        lengths=exp.Tuple(expressions=[exp.Literal.number(n) for n in lengths]),
        pattern=desc.national_number_pattern,
    )


# A plain ASCII address email-validator accepts as it is: dot-separated atoms of
# letters, digits, _ + - before the @; letter-digit-hyphen labels (no "--", which IDNA
# reads as an encoding) and a letter TLD after it. Anything else goes to email-validator.
_PLAIN_EMAIL = r"[a-z0-9_+-]+(\.[a-z0-9_+-]+)*@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"


def email_text(value: exp.Expr) -> exp.Expr:
    """SQL: an address as fast_email reads it: unguarded, in lower case."""
    return tree("lower(:v)", v=unguarded(value))


def fast_email(text: exp.Expr) -> exp.Expr:
    """SQL: a plain address in lower case (what `email` gives it), NULL for any other value,
    which `email` then reads in Python (14,000 a second: a million addresses would take
    70 s). Not the special-use domains email-validator refuses (.test, .local, ...).
    `text`: email_text of the value, computed once."""
    special = tree("regexp_matches(:t, :names)", t=text, names="[.@](" + "|".join(map(re.escape, SPECIAL_USE_DOMAIN_NAMES)) + ")$")
    plain = tree(
        "regexp_full_match(:t, :pattern) AND length(:t) <= 254 AND length(split_part(:t, '@', 1)) <= 64 AND NOT contains(:t, '--')",
        t=text,
        pattern=_PLAIN_EMAIL,
    )
    return tree("CASE WHEN :plain AND NOT :special THEN :t END", plain=plain, special=exp.paren(special), t=text)  # paren: NOT binds tighter than OR


def unguard(text: str) -> str:
    """Python's twin of `unguarded`, for values that arrive one at a time (an opt-out
    typed at the command line, a ledger row written before ids were unguarded).

    >>> [unguard(v) for v in ("'13812345678", '="4012345678901234567"', "\\t138 1234 5678 ", "１３８")]
    ['13812345678', '4012345678901234567', '138 1234 5678', '138']
    """
    text = text.translate(str.maketrans(FULL_WIDTH, HALF_WIDTH)).strip(BLANKS)
    if (formula := re.fullmatch(_FORMULA_TEXT, text, re.S)) is not None:
        text = formula[1]
    return text.lstrip("'\t").strip(BLANKS)


@dataclass(frozen=True)
class Normalised:
    value: str | None  # the contact as huitou uses it, None: not one
    problem: str | None = None  # why it is not one


def phone(text: str, region: str | None) -> Normalised:
    """One phone number in E.164, or why it is not one.

    >>> phone("'138-1234-5678", "CN"), phone("0086 138 1234 5678", "CN").value, phone("+1 (718) 655-9947", "CN").value
    (Normalised(value='+8613812345678', problem=None), '+8613812345678', '+17186559947')
    >>> phone("12345", "CN").problem, phone("=cmd|' /C calc'!A0", "CN").problem
    ('not a valid number for CN', 'not a phone number')
    """
    cleaned = unguard(text)
    if not cleaned:
        return Normalised(None, "empty")
    try:
        parsed = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException:
        return Normalised(None, "not a phone number" if region or cleaned.startswith("+") else "no country code, and no shop.country to read it with")
    if not phonenumbers.is_valid_number(parsed):
        where = phonenumbers.region_code_for_number(parsed) or region or "any country"
        return Normalised(None, _NOT_VALID + where)
    return Normalised(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


# What makes a contact unusable, as the identity report says it: the fixed words, and the
# two that name a country or quote email-validator (said by `said_problem`).
_PROBLEMS = {N_("empty"), N_("not a phone number"), N_("no country code, and no shop.country to read it with")}
_NOT_VALID, _NOT_EMAIL = "not a valid number for ", "not an email address: "


def said_problem(problem: str) -> str:
    """A contact's problem (Normalised.problem, English in the files) in the chosen language."""
    if problem.startswith(_NOT_VALID):
        return _("not a valid number for {where}", where=problem.removeprefix(_NOT_VALID))
    if problem.startswith(_NOT_EMAIL):
        return _("not an email address: {reason}", reason=problem.removeprefix(_NOT_EMAIL))
    return _(problem) if problem in _PROBLEMS else problem


def email(text: str) -> Normalised:
    """One email address, lower case, or why it is not one.

    >>> email(" Sandra.Jones@GMAIL.com ").value, email("王芳@例子.中国").value
    ('sandra.jones@gmail.com', '王芳@例子.中国')
    >>> email("help at shop").problem.startswith("not an email address: ")  # then email-validator's words, which vary by release
    True
    """
    cleaned = unguard(text)
    if not cleaned:
        return Normalised(None, "empty")
    try:
        checked = validate_email(cleaned, check_deliverability=False)
    except EmailNotValidError as exc:
        return Normalised(None, f"{_NOT_EMAIL}{exc}")
    return Normalised(checked.normalized.lower())


def normalise_phones(values: Iterable[str], region: str | None) -> dict[str, Normalised]:
    return {v: phone(v, region) for v in values}


def normalise_emails(values: Iterable[str]) -> dict[str, Normalised]:
    return {v: email(v) for v in values}


def spellings(who: str, region: str | None) -> set[str]:
    """The forms an identifier typed by a person (an opt-out, a suppression entry) may
    take in the data: the id unguarded, and its phone and email forms when it is one, so
    `SANDRA.JONES@GMAIL.COM`, `+86 138 1234 5678` and `'13812345678` find the customer.

    >>> sorted(spellings("SANDRA.JONES@GMAIL.COM", "CN")), sorted(spellings("'138 1234 5678", "CN"))
    (['SANDRA.JONES@GMAIL.COM', 'sandra.jones@gmail.com'], ['+8613812345678', '138 1234 5678'])
    """
    plain = unguard(who)
    forms = {plain} if plain else set()
    if "@" in plain:
        forms.add(email(plain).value or plain.lower())
    elif any(c.isdigit() for c in plain):
        forms.add(phone(plain, region).value or plain)
    return forms


# The events whose id is an order id, in a trigger's text (plan/triggers.py: order:O123).
_ORDER_TRIGGERS = ("order:", "purchase:", "review:")


def respelled(rows: Iterable[tuple[str, str, str, str, bool, str | None]]) -> list[tuple[str, str, str, str, bool]]:
    """Messages of the send ledger under the keys today's data gives them, where those
    differ: a ledger written before ids and order ids were unguarded (or while an export
    still guarded them) holds `order:="4012..."` and `SANDRA@...`, and today's plan keys
    the same message `order:4012...` and `sandra@...`. Rows are (key, playbook, rule,
    customer, legacy, trigger) as ledger.delivered reads them; the keys are
    contract.key's, computed here.

    >>> respelled([("k", "p", "r", "'c1", False, 'order:="4012"')])[0][3]
    'c1'
    """
    out = []
    for key, playbook, rule_id, customer, legacy, trigger in rows:
        if legacy or trigger is None:
            continue
        person = unguard(customer)
        person = person.lower() if "@" in person else person
        event = next((trigger[: len(p)] + unguard(trigger[len(p) :]) for p in _ORDER_TRIGGERS if trigger.startswith(p)), trigger)
        respelt = key_of(playbook, rule_id, person, event)
        if respelt != key:
            out.append((respelt, playbook, rule_id, person, False))
    return out
