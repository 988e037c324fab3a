"""Tokenize and parse predicate text into the AST, keeping every offset.

>>> tree = parse("order_count = 1 AND days_since_last_order <= 45")
>>> type(tree).__name__, len(tree.items)
('And', 2)
>>> parse("order_count = = 1")
PredicateError(message="expected a value after '=', found '='", offset=14, hint='write a number, a quoted string, a date like -90d, or a feature name')
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from ..i18n import N_, _
from .ast import And, Between, Compare, Contains, Expr, InList, IsNull, Literal, Name, Not, Operand, Or, Term


@dataclass(frozen=True)
class PredicateError:
    message: str
    offset: int
    hint: str = ""


@dataclass(frozen=True)
class Token:
    kind: str  # ident keyword number reldate string op lparen rparen comma end
    text: str
    start: int
    end: int
    value: object = None


KEYWORDS = {"and", "or", "not", "between", "in", "is", "null", "contains", "true", "false", "today", "yesterday"}

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|--[^\n]*)
  | (?P<reldate>[-+]\d+[dwmy](?![A-Za-z0-9_]))
  | (?P<number>-?\d+(?:\.\d+)?(?![A-Za-z_]))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
    """,
    re.VERBOSE,
)


MAX_DEPTH = 64  # NOT and parentheses, nested: deeper is a generated or broken predicate
# Relative dates reach a century either way; a number has at most 30 digits (DuckDB's
# DECIMAL(38) holds any feature value; more is a typo or an attack).
MAX_RELDATE = {"d": 36_600, "w": 5_230, "m": 1_200, "y": 100}
MAX_DIGITS = 30


class _Fail(Exception):
    def __init__(self, error: PredicateError) -> None:
        self.error = error


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            ch = text[pos]
            if ch in "'\"":
                raise _Fail(PredicateError(_("unterminated string starting with {quote}", quote=ch), pos, _("strings need single quotes: 'vip'")))
            raise _Fail(PredicateError(_("unexpected character {char}", char=repr(ch)), pos, _("remove it, or quote it inside a string")))
        kind = m.lastgroup or ""
        word = m.group()
        if kind != "space":
            value: object = None
            if kind == "ident" and word.lower() in KEYWORDS:
                kind, value = "keyword", word.lower()
            elif kind == "string":
                value = word[1:-1].replace(word[0] * 2, word[0])
            elif kind == "number":
                value = float(word) if "." in word else int(word)
            elif kind == "reldate":
                value = int(word[:-1])
            elif kind == "op":
                value = "!=" if word == "<>" else word
            tokens.append(Token(kind, word, m.start(), m.end(), value))
        pos = m.end()
    tokens.append(Token("end", "", len(text), len(text)))
    return tokens


def parse(text: str) -> Expr | PredicateError:
    """Parse a predicate; a syntax error comes back as a PredicateError value."""
    try:
        parser = _Parser(tokenize(text))
        if parser.peek().kind == "end":
            raise _Fail(PredicateError(_("the predicate is empty"), 0, _("write a condition such as order_count >= 1")))
        tree = parser.expr()
        tok = parser.peek()
        if tok.kind != "end":
            hint = _("join conditions with AND or OR") if tok.kind in ("ident", "lparen") else _("remove it, or join with AND / OR")
            raise _Fail(PredicateError(_("unexpected {found}", found=_describe(tok)), tok.start, hint))
        return tree
    except _Fail as fail:
        return fail.error
    except RecursionError:
        return PredicateError(_("the predicate is nested too deeply"), 0, _("simplify the parentheses"))


def _describe(tok: Token) -> str:
    return _("end of the predicate") if tok.kind == "end" else f"'{tok.text}'"


# The words of the parser's own that stand for a place in a predicate ("after a condition").
_PLACES = {N_("a condition"), N_("the lower bound of BETWEEN")}


def _place(after: str) -> str:
    return _(after) if after in _PLACES else after


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    def deeper(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Fail(
                PredicateError(
                    _("the predicate is nested too deeply (more than {depth} levels of NOT and parentheses)", depth=MAX_DEPTH),
                    tok.start,
                    _("simplify it: NOT NOT x is x, and AND / OR need no parentheses of their own"),
                )
            )

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def is_kw(self, word: str, ahead: int = 0) -> bool:
        tok = self.peek(ahead)
        return tok.kind == "keyword" and tok.value == word

    def expect_kw(self, word: str, after: str) -> Token:
        if not self.is_kw(word):
            tok = self.peek()
            said = _("expected {word} after {after}, found {found}", word=word.upper(), after=_place(after), found=_describe(tok))
            raise _Fail(PredicateError(said, tok.start))
        return self.take()

    def expr(self) -> Expr:
        items = [self.conj()]
        while self.is_kw("or"):
            self.take()
            items.append(self.conj())
        return items[0] if len(items) == 1 else Or(tuple(items), items[0].start, items[-1].end)

    def conj(self) -> Expr:
        items = [self.negation()]
        while self.is_kw("and"):
            self.take()
            items.append(self.negation())
        return items[0] if len(items) == 1 else And(tuple(items), items[0].start, items[-1].end)

    def negation(self) -> Expr:
        if self.is_kw("not"):
            tok = self.take()
            self.deeper(tok)
            item = self.negation()
            self.depth -= 1
            return Not(item, tok.start, item.end)
        return self.condition()

    def condition(self) -> Expr:
        tok = self.peek()
        if tok.kind == "lparen":
            self.take()
            self.deeper(tok)
            inner = self.expr()
            self.depth -= 1
            close = self.peek()
            if close.kind != "rparen":
                raise _Fail(
                    PredicateError(
                        _("expected ')' to close the '(' at column {column}, found {found}", column=tok.start + 1, found=_describe(close)),
                        close.start,
                        _("add the missing ')'"),
                    )
                )
            self.take()
            # The group spans its parentheses, so a clause shown from the text (explain)
            # keeps both of them.
            return dataclasses.replace(inner, start=tok.start, end=close.end)
        left = self.operand("a condition")
        negated = False
        if self.is_kw("not") and (self.is_kw("between", 1) or self.is_kw("in", 1) or self.is_kw("contains", 1)):
            self.take()
            negated = True
        nxt = self.peek()
        if nxt.kind == "op":
            self.take()
            right = self.operand(f"'{nxt.text}'")
            return Compare(str(nxt.value), left, right, left.start, right.end)
        if self.is_kw("between"):
            self.take()
            low = self.operand("BETWEEN")
            self.expect_kw("and", N_("the lower bound of BETWEEN"))
            high = self.operand("BETWEEN ... AND")
            return Between(left, low, high, negated, left.start, high.end)
        if self.is_kw("in"):
            return self.in_list(left, negated)
        if self.is_kw("contains"):
            self.take()
            item = self.operand("CONTAINS")
            return Contains(left, item, negated, left.start, item.end)
        if self.is_kw("is"):
            self.take()
            is_not = False
            if self.is_kw("not"):
                self.take()
                is_not = True
            end = self.expect_kw("null", "IS NOT" if is_not else "IS")
            return IsNull(left, is_not, left.start, end.end)
        if isinstance(left, Name):
            return Term(left, left.start, left.end)
        raise _Fail(
            PredicateError(
                _("a value alone is not a condition: '{value}'", value=nxt.text or tok.text),
                left.start,
                _("compare it with a feature, e.g. order_count >= 2"),
            )
        )

    def in_list(self, left: Operand, negated: bool) -> Expr:
        self.take()
        open_ = self.peek()
        if open_.kind != "lparen":
            said = _("expected '(' after IN, found {found}", found=_describe(open_))
            raise _Fail(PredicateError(said, open_.start, _("write IN ('gold', 'platinum')")))
        self.take()
        items: list[Literal] = []
        while True:
            item = self.operand("IN (")
            if not isinstance(item, Literal):
                raise _Fail(PredicateError(_("IN lists hold values, not feature names"), item.start, _("quote strings: IN ('gold', 'vip')")))
            items.append(item)
            sep = self.take()
            if sep.kind == "rparen":
                return InList(left, tuple(items), negated, left.start, sep.end)
            if sep.kind != "comma":
                raise _Fail(
                    PredicateError(
                        _("expected ',' or ')' in the IN list, found {found}", found=_describe(sep)),
                        sep.start,
                        _("separate values with commas and close with ')'"),
                    )
                )

    def operand(self, after: str) -> Operand:
        tok = self.take()
        if tok.kind == "ident":
            return Name(tok.text, tok.start, tok.end)
        if tok.kind == "number" and sum(ch.isdigit() for ch in tok.text) > MAX_DIGITS:
            raise _Fail(
                PredicateError(
                    _("a number of {digits} digits: no feature holds values that large", digits=sum(ch.isdigit() for ch in tok.text)),
                    tok.start,
                    _("write at most {digits} digits", digits=MAX_DIGITS),
                )
            )
        if tok.kind == "number":
            return Literal("integer" if isinstance(tok.value, int) else "number", tok.value, tok.start, tok.end)
        if tok.kind == "string":
            return Literal("string", tok.value, tok.start, tok.end)
        if tok.kind == "reldate" and abs(int(tok.value)) > MAX_RELDATE[tok.text[-1]]:  # type: ignore[call-overload]
            unit = tok.text[-1]
            raise _Fail(
                PredicateError(
                    _("a relative date of {date}: more than a century from the as-of date", date=tok.text),
                    tok.start,
                    _("write at most {most:,}{unit} either way, or a date such as 2020-01-01", most=MAX_RELDATE[unit], unit=unit),
                )
            )
        if tok.kind == "reldate":
            return Literal("reldate", tok.value, tok.start, tok.end, unit=tok.text[-1])
        if tok.kind == "keyword" and tok.value in ("true", "false"):
            return Literal("boolean", tok.value == "true", tok.start, tok.end)
        if tok.kind == "keyword" and tok.value == "null":
            return Literal("null", None, tok.start, tok.end)
        if tok.kind == "keyword" and tok.value in ("today", "yesterday"):
            return Literal("reldate", 0 if tok.value == "today" else -1, tok.start, tok.end, unit="d")
        if tok.kind == "keyword":
            raise _Fail(
                PredicateError(
                    _("expected a value or feature name after {after}, found keyword '{keyword}'", after=_place(after), keyword=tok.text),
                    tok.start,
                    _("a keyword cannot stand here"),
                )
            )
        raise _Fail(
            PredicateError(
                _("expected a value after {after}, found {found}", after=_place(after), found=_describe(tok))
                if after != "a condition"
                else _("expected a condition, found {found}", found=_describe(tok)),
                tok.start,
                _("write a number, a quoted string, a date like -90d, or a feature name"),
            )
        )
