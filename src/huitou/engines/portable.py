"""Functions that mean the same on every engine: rewrites of a query tree (written in
DuckDB's dialect) applied before sqlglot writes it for another engine.

sqlglot translates most of huitou's SQL correctly. Where it does not - a wrong result
without an error, or a function the engine lacks - a rewrite here says what the
function means and builds it from what the engine has. Each rewrite is executed on
its engine by tests/test_engines.py: sqlglot's own dialect tests compare strings, which
is how `isodow` on Spark (Sunday 2, not 7) gets through them.

| DuckDB | means | Spark | PostgreSQL |
|---|---|---|---|
| isodow(d) | ISO day of week, Monday 1 .. Sunday 7 | EXTRACT(DAYOFWEEK_ISO FROM d) as INT | EXTRACT(ISODOW FROM d) as INT |
| arg_max(v, k), arg_min | v at the largest (smallest) k, over rows where both are not NULL | MAX_BY / MIN_BY, NULLs filtered | array_agg ordered, first |
| make_date(y, m, d) | a date | MAKE_DATE | MAKE_DATE (sqlglot: DATE_FROM_PARTS) |
| year(d), month(d), day(d) | integers | as is | CAST(EXTRACT(YEAR FROM d) AS INT) |
| array_length(list) | elements in a list, 0 when empty | SIZE | CARDINALITY (array_length is NULL when empty) |
| sha256(text) | hex of SHA-256 of the UTF-8 bytes | SHA2(x, 256) | encode(sha256(convert_to(x, 'UTF8')), 'hex') |
| a // b | integer quotient of non-negative integers | a DIV b (sqlglot) | CAST(DIV(a, b) AS BIGINT) |
| date_diff('day', a, b) | days from date a to date b | DATEDIFF(b, a) | b - a |
| regexp_full_match(s, p) | the whole of s matches p (RE2) | s RLIKE, anchored by \\A and \\z | s ~ '^(?:p)$' |
| CAST('0x' || h AS UBIGINT) (hex_int) | hex digits h (at most 15) as an integer | CAST(CONV(h, 16, 10) AS BIGINT) | bits of 'x' || lpad(h, 16, '0'), as BIGINT |
| to_minutes(n) | an interval of n minutes | n * INTERVAL '1' MINUTE | n * INTERVAL '1 minute' |
| x COLLATE "C" (binary) | text ordered by its bytes (code points) | x (Spark's default) | as is |
| arg_max(v, (a, b)) | a key of several columns, in order | struct(a, b) | ROW(a, b) |

>>> import sqlglot
>>> rewrite(sqlglot.parse_one("SELECT isodow(d)", read="duckdb"), "spark").sql("spark")
'SELECT CAST(EXTRACT(DAYOFWEEK_ISO FROM d) AS INT)'
"""

from __future__ import annotations

from collections.abc import Callable

import sqlglot.expressions as exp


def _fn(name: str, *args: exp.Expr) -> exp.Anonymous:
    """A function call written as is, the same text whatever sqlglot's version."""
    return exp.Anonymous(this=name, expressions=list(args))


def _extract(part: str, value: exp.Expr) -> exp.Expr:
    return exp.Extract(this=exp.var(part), expression=value)


def _isodow(part: str) -> Callable[[exp.Expr], exp.Expr]:
    def rewrite(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.DayOfWeekIso):
            return exp.cast(_extract(part, node.this), "INT")
        return node

    return rewrite


def _date_part(node: exp.Expr) -> exp.Expr:
    """year(d), month(d), day(d) as integers (PostgreSQL has only EXTRACT, numeric)."""
    for kind, part in ((exp.Year, "YEAR"), (exp.Month, "MONTH"), (exp.Day, "DAY")):
        if type(node) is kind:
            return exp.cast(_extract(part, node.this.copy()), "INT")
    return node


def _cardinality(node: exp.Expr) -> exp.Expr:
    """The length of a list, 0 when empty (PostgreSQL's array_length says NULL)."""
    if isinstance(node, exp.ArraySize):
        return _fn("CARDINALITY", node.this.copy())
    return node


def _make_date(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.DateFromParts):
        return _fn("MAKE_DATE", *(exp.cast(node.args[k].copy(), "INT") for k in ("year", "month", "day")))
    return node


def _arg_extreme(node: exp.Expr, spark: bool) -> exp.Expr:
    """arg_max / arg_min, with or without FILTER, over rows where value and key are set."""
    inner, condition = (node.this, node.expression.this) if isinstance(node, exp.Filter) else (node, None)
    if not isinstance(inner, (exp.ArgMax, exp.ArgMin)) or (isinstance(node, (exp.ArgMax, exp.ArgMin)) and isinstance(node.parent, exp.Filter)):
        return node
    value, key = inner.this, inner.expression
    wanted = exp.and_(exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null())), exp.Not(this=exp.Is(this=key.copy(), expression=exp.Null())))
    where = exp.Where(this=exp.and_(condition.copy(), wanted) if condition is not None else wanted)
    if spark:
        call = _fn("MAX_BY" if isinstance(inner, exp.ArgMax) else "MIN_BY", value.copy(), key.copy())
        return exp.Filter(this=call, expression=where)
    # A key of several columns sorts by each in turn (sorting by a ROW value was twice as slow).
    keys = key.expressions if isinstance(key, exp.Anonymous) and key.name.upper() == "ROW" else [key]
    ordered = [exp.Ordered(this=k.copy(), desc=isinstance(inner, exp.ArgMax), nulls_first=False) for k in keys]
    agg = _fn("ARRAY_AGG", exp.Order(this=value.copy(), expressions=ordered))
    # sqlglot's subscripts count from 0 and it writes them for the dialect: PostgreSQL's [1].
    return exp.Bracket(this=exp.paren(exp.Filter(this=agg, expression=where)), expressions=[exp.Literal.number(0)])


def _sha256(postgres: bool) -> Callable[[exp.Expr], exp.Expr]:
    def rewrite(node: exp.Expr) -> exp.Expr:
        length = node.args.get("length") if isinstance(node, exp.SHA2) else None
        if not isinstance(node, exp.SHA2) or (length is not None and length.name != "256"):
            return node
        if postgres:
            bytes_ = _fn("CONVERT_TO", node.this.copy(), exp.Literal.string("UTF8"))
            return _fn("ENCODE", _fn("SHA256", bytes_), exp.Literal.string("hex"))
        return _fn("SHA2", node.this.copy(), exp.Literal.number(256))

    return rewrite


def hex_int(digits: exp.Expr) -> exp.Expr:
    """Hexadecimal digits (at most 15) read as an integer: CAST('0x' || digits AS UBIGINT)."""
    return exp.cast(exp.DPipe(this=exp.Literal.string("0x"), expression=digits, safe=True), exp.DataType.build("UBIGINT", dialect="duckdb"))


def binary(text: exp.Expr) -> exp.Expr:
    """Text ordered by its bytes (the code points), whatever the database's collation."""
    return exp.Collate(this=text, expression=exp.to_identifier("C", quoted=True))


def _hex_int(postgres: bool) -> Callable[[exp.Expr], exp.Expr]:
    def rewrite(node: exp.Expr) -> exp.Expr:
        if not (
            isinstance(node, exp.Cast)
            and node.to.this == exp.DataType.Type.UBIGINT
            and isinstance(node.this, exp.DPipe)
            and node.this.this == exp.Literal.string("0x")
        ):
            return node
        digits = node.this.expression.copy()
        if postgres:  # a bit string read as a (signed) 64-bit integer: 16 digits, the first 0
            bits = exp.cast(
                exp.DPipe(this=exp.Literal.string("x"), expression=_fn("LPAD", digits, exp.Literal.number(16), exp.Literal.string("0"))),
                "BIT(64)",
            )
            return exp.cast(bits, "BIGINT")
        return exp.cast(_fn("CONV", digits, exp.Literal.number(16), exp.Literal.number(10)), "BIGINT")

    return rewrite


def _full_match(postgres: bool) -> Callable[[exp.Expr], exp.Expr]:
    """regexp_full_match with a constant pattern: anchored at both ends of the text (Java's
    `$` would also match before a final line break; PostgreSQL's `$`, without the n flag,
    only at the end)."""

    def rewrite(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.RegexpFullMatch):
            return node
        pattern = node.expression
        if not (isinstance(pattern, exp.Literal) and pattern.is_string):
            raise ValueError("regexp_full_match needs a constant pattern to be portable")
        if postgres:
            return exp.RegexpLike(this=node.this.copy(), expression=exp.Literal.string(f"^(?:{pattern.this})$"))
        return exp.RegexpLike(this=node.this.copy(), expression=exp.Literal.string(f"\\A(?:{pattern.this})\\z"))

    return rewrite


def _minutes(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.Anonymous) and node.name.lower() == "to_minutes" and len(node.expressions) == 1:
        return exp.Mul(this=exp.paren(node.expressions[0].copy()), expression=exp.Interval(this=exp.Literal.string("1"), unit=exp.var("MINUTE")))
    return node


def _no_binary_collation(node: exp.Expr) -> exp.Expr:
    """Spark orders strings by their UTF-8 bytes already (and has no collation "C")."""
    if isinstance(node, exp.Collate) and node.expression.name == "C":
        return node.this.copy()
    return node


def _key_tuple(row: str) -> Callable[[exp.Expr], exp.Expr]:
    """A tuple as arg_max's key: a struct (Spark) or a row (PostgreSQL), compared field by field."""

    def rewrite(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Tuple) and isinstance(node.parent, (exp.ArgMax, exp.ArgMin)) and node.arg_key == "expression":
            return _fn(row, *(e.copy() for e in node.expressions))
        return node

    return rewrite


def _int_div(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.IntDiv):  # PostgreSQL's DIV is numeric
        return exp.cast(_fn("DIV", node.this.copy(), node.expression.copy()), "BIGINT")
    return node


def _day_diff(postgres: bool) -> Callable[[exp.Expr], exp.Expr]:
    def rewrite(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.DateDiff) or node.text("unit").lower() not in ("day", ""):
            return node
        start, end = node.expression.copy(), node.this.copy()  # DuckDB: date_diff('day', start, end)
        if postgres:
            return exp.paren(exp.Sub(this=exp.cast(end, "DATE"), expression=exp.cast(start, "DATE")))
        return _fn("DATEDIFF", exp.cast(end, "DATE"), exp.cast(start, "DATE"))

    return rewrite


_REWRITES: dict[str, list[Callable[[exp.Expr], exp.Expr]]] = {
    "duckdb": [],
    "spark": [
        _isodow("DAYOFWEEK_ISO"),
        _key_tuple("STRUCT"),
        lambda n: _arg_extreme(n, spark=True),
        _sha256(False),
        _day_diff(False),
        _hex_int(False),
        _full_match(False),
        _minutes,
        _no_binary_collation,
    ],
    "postgres": [
        _isodow("ISODOW"),
        _date_part,
        _make_date,
        _cardinality,
        _key_tuple("ROW"),
        lambda n: _arg_extreme(n, spark=False),
        _sha256(True),
        _int_div,
        _day_diff(True),
        _hex_int(True),
        _full_match(True),
        _minutes,
    ],
}


def rewrite(tree: exp.Expr, kind: str) -> exp.Expr:
    """`tree` with every rewrite of the engine `kind` applied (a copy; DuckDB: as it is)."""
    rules = _REWRITES[kind]
    if not rules:
        return tree
    out = tree.copy()
    for rule in rules:
        out = out.transform(rule, copy=False)
    return out
