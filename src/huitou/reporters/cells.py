"""Text padded to the columns a terminal shows: a Chinese or Japanese character takes two
(rich's cell widths), so a table's columns line up in every language."""

from __future__ import annotations


def left(text: str, width: int) -> str:
    """`text` padded on the right to `width` columns."""
    from rich.cells import cell_len

    return text + " " * max(0, width - cell_len(text))


def right(text: str, width: int) -> str:
    """`text` padded on the left to `width` columns."""
    from rich.cells import cell_len

    return " " * max(0, width - cell_len(text)) + text


def width(text: str) -> int:
    """The columns `text` takes."""
    from rich.cells import cell_len

    return cell_len(text)
