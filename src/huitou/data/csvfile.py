"""Reading a delimited text file without trusting DuckDB's dialect sniffer.

The sniffer guesses from a sample: one row with a column too many makes it read the
whole file as a single column (and the load then says "no column 'customer_id'"), and
DuckDB 2 refuses a file whose lines end in both CRLF and LF. So the dialect comes from
the header line (or huitou.yaml), the columns are named explicitly, and rows that do not
fit (too many or too few fields, an unclosed quote) are set aside in the table
`malformed_<source>` with DuckDB's own explanation and their line, instead of making the
file unreadable. The rest of the file is read as usual.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import duckdb
from sqlglot import exp

from ..db import drop_table, named, quoted, read_csv, run, scalar, select_tree, tree
from ..i18n import _
from .encoding import not_text, text_path
from .sources import DataError, Source, too_wide

DELIMITERS = (",", ";", "\t", "|")
_HEAD_BYTES = 1 << 20  # the header line is looked for in the first MiB


def header_line(source: Source, path: Path) -> str:
    """The first line of the source's UTF-8 text at `path`, decoded (a byte order mark
    dropped)."""
    with open(path, "rb") as handle:
        head = handle.read(_HEAD_BYTES).split(b"\n", 1)[0].rstrip(b"\r")
    try:
        return head.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(not_text(source, "utf_8", 1)) from None


def sniff_delimiter(line: str) -> str:
    """The candidate delimiter found most often in the header line, outside quotes."""
    bare = "".join(part for i, part in enumerate(line.split('"')) if i % 2 == 0)
    counts = {d: bare.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def csv_dialect(source: Source, path: Path) -> tuple[dict[str, exp.Expr], int, list[str]]:
    """read_csv's options for a delimited file (its UTF-8 text at `path`), how many header
    lines it has, and the column names."""
    opts = source.csv
    has_header = bool(opts.get("header", True))
    first = header_line(source, path)
    delimiter = str(opts.get("delimiter") or sniff_delimiter(first))
    quote = str(opts.get("quote") or '"')
    names = list(opts.get("names") or [])
    if not names:
        if not has_header:
            raise DataError(_("{file}: a file without a header needs csv.names in huitou.yaml", file=source.path))
        names = next(csv.reader(io.StringIO(first), delimiter=delimiter, quotechar=quote), [])
        names = [n.strip() for n in names]
    too_wide(source, len(names))
    if not names or not any(names):
        said = _(
            "{file}: the first line is empty: a header line naming the columns is expected (or csv.header: false and csv.names)", file=source.path
        )
        raise DataError(said)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DataError(
            _(
                "{file}: the header names {columns} more than once; rename the columns, or give csv.names",
                file=source.path,
                columns=", ".join(repr(d) for d in duplicates),
            )
        )
    every_text = exp.Struct(expressions=[exp.PropertyEQ(this=exp.Literal.string(n), expression=exp.Literal.string("VARCHAR")) for n in names])
    options: dict[str, exp.Expr] = {
        "header": exp.Boolean(this=has_header),
        "delim": exp.Literal.string(delimiter),
        "quote": exp.Literal.string(quote),
        "escape": exp.Literal.string(quote),
        "auto_detect": exp.false(),
        "columns": every_text,
    }
    return options, 1 if has_header else 0, names


def open_csv(con: duckdb.DuckDBPyConnection, source: Source) -> exp.Select:
    """The query reading the well-formed rows, plus `_row` (their data row number, counting
    the malformed ones too); the malformed rows go to the table malformed_<name> (line,
    error, text). One extra pass over the file finds them."""
    path = text_path(source)  # the file, or its UTF-8 copy
    options, header_lines, columns = csv_dialect(source, path)
    table = named(f"malformed_{source.name}")
    rejects, scans = f"huitou_rejects_{source.name}", f"huitou_reject_scans_{source.name}"
    run(con, tree("CREATE OR REPLACE TABLE :table (line BIGINT, data_row BIGINT, error VARCHAR, text VARCHAR)", table=table))
    # Every column is read (a bare count(*) would skip decoding them): the common case, a
    # clean file, is read once here.
    every = exp.or_(*(exp.not_(quoted(n).is_(exp.null())) for n in columns))
    try:
        run(con, exp.select("count(*)").from_(read_csv(path, options)).where(every)).fetchall()
    except duckdb.Error as exc:
        message = str(exc).strip()
        where = re.search(r"on Line: (\d+)", message)
        if "unicode" in message.lower():  # the file's encoding, not a row's fault: refuse the file
            raise DataError(not_text(source, "utf_8", where.group(1) if where else "?")) from None
        probe = read_csv(path, options, store_rejects=exp.true(), rejects_table=exp.Literal.string(rejects), rejects_scan=exp.Literal.string(scans))
        try:
            run(con, exp.select("count(*)").from_(probe)).fetchall()
        except duckdb.Error:
            line = _(" (line {line})", line=where.group(1)) if where else ""
            said = _("{file}: cannot read it as CSV{line}: {reason}", file=source.path, line=line, reason=message.splitlines()[0])
            raise DataError(said + _line_ending_hint(path)) from None
        run(
            con,
            tree(
                """
            INSERT INTO :table
            SELECT DISTINCT line, line - :header_lines, error_type || ': ' || error_message, csv_line FROM :rejects ORDER BY line""",
                table=table,
                header_lines=header_lines,
                rejects=named(rejects),
            ),
        )
        drop_table(con, named(rejects))
        drop_table(con, named(scans))
        # Mixed line endings make some DuckDB versions reject rows that are fine: the file's
        # fault, said as such, rather than rows set aside.
        endings = _line_ending_hint(path)
        if endings:
            first = scalar(con, exp.select("error").from_(table).order_by("line").limit(1))
            raise DataError(_("{file}: cannot read it as CSV: {reason}", file=source.path, reason=first) + endings) from None
    good = select_tree("SELECT *, row_number() OVER () AS _k FROM :rows", rows=read_csv(path, options, ignore_errors=exp.true()))
    if not scalar(con, exp.select("count(*)").from_(table)):
        return select_tree("SELECT * EXCLUDE (_k), _k AS _row FROM :good", good=good.subquery())
    # A good row's number counts the malformed rows before it: those with fewer good rows
    # before them than it has.
    before = select_tree("SELECT data_row - row_number() OVER (ORDER BY data_row) AS good_before FROM :table", table=table)
    return select_tree(
        "SELECT g.* EXCLUDE (_k), g._k + (SELECT count(*) FROM :before AS b WHERE b.good_before < g._k) AS _row FROM :good AS g",
        before=before.subquery(),
        good=good.subquery(),
    )


def malformed(con: duckdb.DuckDBPyConnection, name: str) -> list[tuple[int, str]]:
    """(line, DuckDB's explanation) of the malformed rows of a source; none for files that
    are not delimited text."""
    exists = scalar(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [f"malformed_{name}"])
    return run(con, exp.select("line", "error").from_(named(f"malformed_{name}")).order_by("line")).fetchall() if exists else []


def report_malformed(con: duckdb.DuckDBPyConnection, name: str, rejected: dict[str, int], hints: list[str]) -> int:
    """Count a source's malformed rows as rejected (`malformed_row`) and say where the
    first ones are; returns how many there are."""
    rows = malformed(con, name)
    if rows:
        rejected["malformed_row"] = len(rows)
        shown = "; ".join(_("line {line}: {error}", line=line, error=error) for line, error in rows[:3])
        hints.append(_("malformed rows (set aside, the rest of the file is read): {rows}", rows=shown) + (" ..." if len(rows) > 3 else ""))
    return len(rows)


def _line_ending_hint(path: Path) -> str:
    """When the file mixes CRLF and LF line ends, where (DuckDB 2 stops on such files)."""
    crlf = lf = None
    line = 1
    with open(path, "rb") as handle:
        previous = b""
        while chunk := handle.read(1 << 20):
            data = previous + chunk
            start = 0
            while (at := data.find(b"\n", start)) >= 0:
                if at > 0 and data[at - 1 : at] == b"\r":
                    crlf = crlf or line
                else:
                    lf = lf or line
                if crlf and lf:
                    first, second = ("CRLF", "LF") if crlf < lf else ("LF", "CRLF")
                    return "; " + _(
                        "line {late} ends with {second} where line {early} ends with {first}: the file mixes line endings. "
                        "Save it with one kind (e.g. dos2unix FILE)",
                        late=max(crlf, lf),
                        second=second,
                        early=min(crlf, lf),
                        first=first,
                    )
                line += 1
                start = at + 1
            previous = data[start:][-1:] if data.endswith(b"\r") else b""
    return ""
