"""Text files in the encodings shops' tools write, read as UTF-8.

DuckDB reads UTF-8 only without its `encodings` extension, which it would download at
run time (huitou's machines have no internet). So a file in another encoding (huitou.yaml
`csv.encoding`, or a UTF-16 byte order mark) is transcoded to UTF-8 once per process, in
a stream, into the scratch directory, and DuckDB reads that copy; messages still name the
file the user gave. A file that is not UTF-8 and says nothing is refused with the encoding
it most likely is (charset-normalizer) and the line to add to huitou.yaml.
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path

from ..i18n import N_, _
from .sources import DataError, Source

# What Windows writes under the names people know: GBK files hold GB18030 characters (an
# emoji in a buyer's name), "Shift_JIS" from Excel is Microsoft's CP932, EUC-KR is CP949.
# Each is a superset that reads the narrower files alike.
_WIDER = {"gbk": "gb18030", "gb2312": "gb18030", "shift_jis": "cp932", "euc_kr": "cp949"}
# The encodings exports come in, for detection (charset-normalizer weighs only these).
EXPORT_ENCODINGS = ("utf_8", "gb18030", "big5", "cp932", "cp949", "cp1252", "utf_16")
# What a shop's tools write in its language (by default_locale): preferred when it reads
# the file as text. On a short or repetitive file the measure of mess cannot tell GBK from
# Big5 or CP932 from GB18030, and its verdict changed between charset-normalizer releases.
_LOCALE_ENCODING = {"zh": "gb18030", "zh-tw": "big5", "zh-hk": "big5", "zh-hant": "big5", "ja": "cp932", "ko": "cp949"}
_MESSY = 0.3  # more mess than the least messy reading by this much: not the locale's text
_DESCRIBED = {
    "gb18030": N_("Chinese GBK/GB18030"),
    "big5": N_("Traditional Chinese Big5"),
    "cp932": N_("Japanese Shift_JIS (CP932)"),
    "cp949": N_("Korean EUC-KR (CP949)"),
    "cp1252": N_("Western European Windows-1252"),
    "utf_16": "UTF-16",
}
_BOMS = ((codecs.BOM_UTF8, "utf_8"), (codecs.BOM_UTF16_LE, "utf_16"), (codecs.BOM_UTF16_BE, "utf_16"))
_CHUNK = 1 << 22
_SAMPLE = 1 << 18  # bytes of the file the detection reads


def codec_name(name: str) -> str | None:
    """Python's name of an encoding as huitou.yaml may spell it (GBK, utf-8, Shift-JIS),
    widened to what Windows writes under it; None when there is no such encoding."""
    try:
        canonical = codecs.lookup(name).name.replace("-", "_")
    except LookupError:
        return None
    return _WIDER.get(canonical, canonical)


def file_encoding(source: Source) -> str:
    """The encoding a delimited file is read in: `csv.encoding`, else its byte order mark,
    else UTF-8."""
    declared = source.csv.get("encoding")
    if declared:
        name = codec_name(str(declared))
        if name is None:
            raise DataError(
                _(
                    "{file}: csv.encoding '{encoding}' is not an encoding huitou knows; write e.g. gbk, gb18030, big5, shift_jis, cp1252 or utf-16",
                    file=source.path,
                    encoding=declared,
                )
            )
        if not is_utf8(name) and _reads_as_utf8(source.path):
            # Read as GBK, UTF-8 text would turn into other characters without an error.
            raise DataError(
                _(
                    "{file}: csv.encoding is {encoding}, but the file is UTF-8 text (saved again as UTF-8?): remove data.{name}.csv.encoding",
                    file=source.path,
                    encoding=declared,
                    name=source.name,
                )
            )
        return name
    with open(source.path, "rb") as handle:
        head = handle.read(4)
    return next((name for bom, name in _BOMS if head.startswith(bom)), "utf_8")


def _reads_as_utf8(path: Path) -> bool:
    """Whether the file's head is UTF-8 with characters beyond ASCII (which text in the
    other encodings almost never is)."""
    sample = _head(path)
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not sample.isascii()


def _head(path: Path) -> bytes:
    """The file's first bytes, in whole lines (a character cut at the end is no evidence)."""
    with open(path, "rb") as handle:
        sample = handle.read(_SAMPLE)
    if len(sample) == _SAMPLE and b"\n" in sample:
        sample = sample[: sample.rfind(b"\n") + 1]
    return sample


def _decodes(sample: bytes, encoding: str) -> bool:
    try:
        sample.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def is_utf8(encoding: str) -> bool:
    return encoding in ("utf_8", "utf_8_sig")


def text_path(source: Source) -> Path:
    """The file DuckDB reads for a text source: the file itself when it is UTF-8, else its
    UTF-8 copy."""
    encoding = file_encoding(source)
    return source.path if is_utf8(encoding) else utf8_copy(source, encoding)


_transcoded: dict[tuple[str, int, int, str], Path] = {}


def utf8_copy(source: Source, encoding: str) -> Path:
    """The file as UTF-8 in the scratch directory (made once per process and file
    version). A byte that is not text of the encoding stops it with its line."""
    info = source.path.stat()
    key = (os.path.realpath(source.path), info.st_size, info.st_mtime_ns, encoding)
    if key in _transcoded:
        return _transcoded[key]
    from ..db import scratch_dir  # noqa: PLC0415 - DuckDB only when a file is read (validate reads codec_name)

    target = scratch_dir() / f"utf8-{len(_transcoded)}-{source.name}{source.path.suffix or '.csv'}"
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    line = 1
    with open(source.path, "rb") as raw, open(target, "wb") as out:
        while chunk := raw.read(_CHUNK):
            try:
                out.write(decoder.decode(chunk).encode("utf-8"))
            except UnicodeDecodeError as exc:
                before = chunk[: exc.start]
                line += before.count(b"\n") if encoding != "utf_16" else before.decode(encoding, "replace").count("\n")
                raise DataError(not_text(source, encoding, line)) from None
            if encoding != "utf_16":
                line += chunk.count(b"\n")
        try:
            out.write(decoder.decode(b"", final=True).encode("utf-8"))
        except UnicodeDecodeError:
            raise DataError(not_text(source, encoding, line)) from None
    _transcoded[key] = target
    return target


def not_text(source: Source, encoding: str, line: int | str) -> str:
    """Why a file cannot be read in `encoding`, with what it most likely is instead."""
    guesses = [g for g in likely_encodings(source.path, source.locale) if g != encoding]
    said = "UTF-8" if is_utf8(encoding) else encoding
    setting = f"data.{source.name}.csv.encoding" if source.name in ("orders", "customers") else "csv.encoding"
    if not guesses:
        return _(
            "{file}: line {line} is not {encoding} text, and it reads as no encoding huitou knows; save the file as UTF-8, or set {setting}",
            file=source.path,
            line=line,
            encoding=said,
            setting=setting,
        )
    best = guesses[0]
    also = _(" (or {others})", others=", ".join(guesses[1:])) if guesses[1:] else ""
    return _(
        "{file}: line {line} is not {encoding} text; the file reads as {best}, {described}{also}: "
        "add `encoding: {best}` under {section} in huitou.yaml, or save the file as UTF-8",
        file=source.path,
        line=line,
        encoding=said,
        best=best,
        described=_(_DESCRIBED.get(best, best)),
        also=also,
        section=setting.rsplit(".", 1)[0],
    )


def _preferred(locale: str) -> str | None:
    """The encoding a shop of this locale's tools write (Western: CP1252; none: None)."""
    if not locale:
        return None
    tag = locale.replace("_", "-").lower()
    return _LOCALE_ENCODING.get(tag) or _LOCALE_ENCODING.get(tag.split("-")[0]) or "cp1252"


def likely_encodings(path: Path, locale: str = "") -> list[str]:
    """The export encodings a file's head reads as without errors, likeliest first: the
    one of the shop's locale when it reads as text, then by charset-normalizer's measure
    of mess."""
    from charset_normalizer import from_bytes  # noqa: PLC0415 - only when a file is refused

    sample = _head(path)
    # Short, repetitive rows (a shop's export) look messy to the measure's default cut;
    # every encoding that decodes the sample is weighed, the mess only ranking them.
    decodable = [e for e in EXPORT_ENCODINGS if not is_utf8(e) and _decodes(sample, e)]
    matches = list(from_bytes(sample, cp_isolation=decodable, threshold=1.0)) if decodable else []
    if not matches:
        return []
    least = min(m.chaos for m in matches)
    wanted = _preferred(locale)
    ranked = sorted(matches, key=lambda m: (not (m.encoding == wanted and m.chaos <= least + _MESSY), m.chaos))
    return [m.encoding for m in ranked]
