"""Load YAML strictly and keep positions: every value can be traced to file:line:col.

YAML 1.1 surprises are off: only ``true``/``false`` are booleans (``yes``, ``no``, ``on``,
``off`` stay strings), dates and times stay strings (``10:30`` is not the number 630), and
numbers follow YAML 1.2 (``0755`` is 755, not an octal). Mapping keys are always strings,
as in JSON, so ``7: sms/d7.j2`` has the key ``"7"``.

>>> doc, problems = load_text("a: yes\\nat: 10:30\\nday: 2026-11-11\\n", "x.yaml")
>>> doc.data
{'a': 'yes', 'at': '10:30', 'day': '2026-11-11'}
>>> doc.position(("at",))
(2, 5)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .diagnostics import Diagnostic
from .i18n import N_, _, lookup

_MERGE_TAG = "tag:yaml.org,2002:merge"


# libyaml's parser is about 5x faster than the pure-Python one; the constructor and the
# resolver (where the strict rules live) are Python in both.
_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class StrictLoader(_Base):  # type: ignore[misc, valid-type]
    """SafeLoader with YAML 1.2 core scalars and duplicate-key reporting."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[str, yaml.Mark, yaml.Mark]] = []

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[str, yaml.Mark] = {}
        for key_node, _value in node.value:
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, ScalarNode):
                continue
            if key_node.value in seen:
                self.duplicates.append((key_node.value, key_node.start_mark, seen[key_node.value]))
            seen[key_node.value] = key_node.start_mark
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                said = _("a mapping key must be a plain value, not a list or mapping")
                raise yaml.constructor.ConstructorError(None, None, said, key_node.start_mark)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _core_schema_resolvers() -> dict[str | None, list[tuple[str, re.Pattern[str]]]]:
    dropped = {
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:timestamp",
    }
    table = {first: [(tag, rx) for tag, rx in entries if tag not in dropped] for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    core = [
        ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), "tTfF"),
        ("tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), "-+0123456789"),
        (
            "tag:yaml.org,2002:float",
            re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
            "-+.0123456789",
        ),
    ]
    for tag, rx, firsts in core:
        for ch in firsts:
            table.setdefault(ch, []).append((tag, rx))
    return table


StrictLoader.yaml_implicit_resolvers = _core_schema_resolvers()


def _construct_int(loader: StrictLoader, node: ScalarNode) -> int:
    text = node.value
    try:
        if text.startswith("0o"):
            return int(text[2:], 8)
        return int(text, 0) if text.startswith("0x") else int(text)
    except ValueError:  # Python refuses integers of more than 4,300 digits
        raise yaml.constructor.ConstructorError(
            None, None, _("an integer of {digits:,} digits is not a value a playbook needs", digits=len(text)), node.start_mark
        ) from None


StrictLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


@dataclass
class Document:
    """A parsed YAML file: the plain data and the node tree that knows positions."""

    path: str
    text: str
    data: Any
    root: Node | None

    def node(self, path: tuple[str | int, ...]) -> tuple[Node | None, Node | None]:
        """The (key node, value node) at a data path; the deepest reached if it is absent."""
        key: Node | None = None
        node = self.root
        for part in path:
            found = _child(node, part)
            if found is None:
                return key, node
            key, node = found
        return key, node

    def position(self, path: tuple[str | int, ...], *, at_key: bool = False) -> tuple[int, int]:
        key, value = self.node(path)
        target = key if at_key and key is not None else value
        if target is None:
            return 1, 1
        return target.start_mark.line + 1, target.start_mark.column + 1

    def scalar_position(self, path: tuple[str | int, ...], offset: int) -> tuple[int, int]:
        """Position of character `offset` of the string value at `path`."""
        _, node = self.node(path)
        if not isinstance(node, ScalarNode):
            return self.position(path)
        return scalar_offset_position(node, offset, self.text)


def _child(node: Node | None, part: str | int) -> tuple[Node | None, Node] | None:
    if isinstance(node, SequenceNode) and isinstance(part, int):
        return (None, node.value[part]) if 0 <= part < len(node.value) else None
    if isinstance(node, MappingNode):
        merged = []
        for key_node, value_node in reversed(node.value):  # the last duplicate wins, as in the data
            if key_node.tag == _MERGE_TAG:
                merged.append(value_node)
            elif isinstance(key_node, ScalarNode) and key_node.value == str(part):
                return key_node, value_node
        for value_node in merged:
            for source in value_node.value if isinstance(value_node, SequenceNode) else [value_node]:
                found = _child(source, part)
                if found is not None:
                    return found
    return None


def scalar_offset_position(node: ScalarNode, offset: int, buffer: str) -> tuple[int, int]:
    """Map an offset in a scalar's value to its 1-based line and column in the source.

    Works for plain, quoted and block scalars by aligning the value with the raw source
    text: quotes, indentation and line folding are skipped over.
    """
    start = node.start_mark.index
    raw = buffer[start : node.end_mark.index]
    value = node.value
    j = 0
    if node.style in ("|", ">"):
        newline = raw.find("\n")
        j = newline + 1 if newline >= 0 else len(raw)
    elif node.style in ("'", '"'):
        j = 1
    for i, ch in enumerate(value[: max(offset, 0)]):
        while j < len(raw) and raw[j] != ch and not (ch == " " and raw[j] == "\n"):
            j += 1
        j += 1
        if i + 1 >= len(value):
            break
    # Skip indentation so the column lands on the character itself.
    while j < len(raw) and raw[j] in " \n" and (offset < len(value) and value[offset] not in " \n"):
        j += 1
    absolute = start + min(j, len(raw))
    line = buffer.count("\n", 0, absolute)
    column = absolute - (buffer.rfind("\n", 0, absolute) + 1)
    return line + 1, column + 1


def load_text(text: str, path: str) -> tuple[Document | None, list[Diagnostic]]:
    """Parse YAML text; problems come back as diagnostics, never as exceptions."""
    try:
        loader = StrictLoader(text)
    except yaml.reader.ReaderError as exc:  # raised while reading the first characters
        return None, [_reader_problem(text, exc, path)]
    loader.name = path
    try:
        root = loader.get_single_node()
        blown = _alias_problem(root, path) if root is not None else None
        if blown is not None:
            return None, [blown]
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(_yaml_words(str(p)) for p in (exc.context, exc.problem) if p)
        hint = _("check the indentation and quoting here; a value containing ': ' or '#' needs quotes")
        return None, [Diagnostic(path, line, col, "HT001", message or _("invalid YAML"), hint)]
    except yaml.reader.ReaderError as exc:
        return None, [_reader_problem(text, exc, path)]
    except RecursionError:  # the YAML library's own recursion, on nesting deeper than Python allows
        return None, [
            Diagnostic(
                path,
                1,
                1,
                "HT001",
                _("values nested more than {depth} levels deep", depth=MAX_DEPTH),
                _("a playbook is a few levels deep: flatten the deepest value"),
            )
        ]
    finally:
        loader.dispose()
    problems = [
        Diagnostic(
            path,
            mark.line + 1,
            mark.column + 1,
            "HT002",
            _("duplicate key '{key}' (first at line {line})", key=key, line=first.line + 1),
            _("remove one of them; YAML would silently keep only the last"),
        )
        for key, mark, first in sorted(loader.duplicates, key=lambda d: d[1].index)
    ]
    return Document(path, text, data, root), problems


# PyYAML's own words for where it was and what it found, those that are fixed text: said
# in the chosen language (the rest, which quote the document, stay PyYAML's English).
YAML_WORDS = [
    N_("while scanning a simple key"),
    N_("while scanning a quoted scalar"),
    N_("while scanning a double-quoted scalar"),
    N_("while scanning a block scalar"),
    N_("while scanning for the next token"),
    N_("while scanning a directive"),
    N_("while scanning a tag"),
    N_("while parsing a node"),
    N_("while parsing a tag"),
    N_("while parsing a flow sequence"),
    N_("while parsing a flow mapping"),
    N_("while parsing a block mapping"),
    N_("while parsing a block collection"),
    N_("while constructing a mapping"),
    N_("while composing a mapping"),
    N_("could not find expected ':'"),
    N_("mapping values are not allowed here"),
    N_("mapping keys are not allowed here"),
    N_("sequence entries are not allowed here"),
    N_("found unexpected end of stream"),
    N_("found unexpected document separator"),
    N_("found unhashable key"),
    N_("expected a single document in the stream"),
    N_("but found another document"),
    # libyaml's (PyYAML's C loader says these instead)
    N_("while parsing a flow node"),
    N_("while parsing a block node"),
    N_("while scanning an anchor"),
    N_("while scanning an alias"),
    N_("while scanning a plain scalar"),
    N_("did not find expected node content"),
    N_("did not find expected key"),
    N_("did not find expected '-' indicator"),
    N_("did not find expected ',' or ']'"),
    N_("did not find expected ',' or '}'"),
    N_("did not find expected alphabetic or numeric character"),
    N_("found character that cannot start any token"),
    N_("found a tab character that violates indentation"),
    N_("found undefined tag handle"),
    N_("found unexpected ':'"),
    N_("mapping values are not allowed in this context"),
    N_("block sequence entries are not allowed in this context"),
]


def _yaml_words(text: str) -> str:
    return lookup(text) if text in YAML_WORDS else text  # not format strings: `',' or '}'`


MAX_VALUES = 100_000  # values a document may hold once its aliases are expanded
MAX_DEPTH = 100  # levels of nesting: a playbook needs about six; the checks walk values recursively


def _alias_problem(root: Node, path: str) -> Diagnostic | None:
    """A document whose aliases expand it beyond MAX_VALUES values (a "billion laughs"
    bomb: 742 bytes ran validate past 90 s), or that contains itself through an alias,
    as one diagnostic at the node where it happens. Sizes are counted over the node
    graph, each node once, so the bomb is measured without being expanded. A document
    nested deeper than MAX_DEPTH levels is refused the same way."""
    size: dict[int, int] = {}
    stack: list[tuple[Node, bool, int]] = [(root, False, 0)]
    open_nodes: set[int] = set()
    while stack:
        node, done, depth = stack.pop()
        key = id(node)
        if depth > MAX_DEPTH:
            line, col = node.start_mark.line + 1, node.start_mark.column + 1
            return Diagnostic(
                path,
                line,
                col,
                "HT001",
                _("values nested more than {depth} levels deep", depth=MAX_DEPTH),
                _("a playbook is a few levels deep: flatten this value"),
            )
        if done:
            open_nodes.discard(key)
            children = _children(node)
            total = 1 + sum(size[id(c)] for c in children)
            size[key] = min(total, MAX_VALUES + 1)
            if total > MAX_VALUES:
                line, col = node.start_mark.line + 1, node.start_mark.column + 1
                return Diagnostic(
                    path,
                    line,
                    col,
                    "HT001",
                    _("aliases (*name) expand this value to more than {count:,} values", count=MAX_VALUES),
                    _("write the values out, or use fewer levels of aliases"),
                )
            continue
        if key in size:
            continue
        if key in open_nodes:
            line, col = node.start_mark.line + 1, node.start_mark.column + 1
            said = _("an alias refers to a value that contains it (a value cannot contain itself)")
            return Diagnostic(path, line, col, "HT001", said, _("remove the alias"))
        open_nodes.add(key)
        stack.append((node, True, depth))
        stack.extend((child, False, depth + 1) for child in _children(node) if id(child) not in size)
    return None


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _reader_problem(text: str, exc: yaml.reader.ReaderError, path: str) -> Diagnostic:
    line = text.count("\n", 0, exc.position) + 1
    column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
    return Diagnostic(
        path,
        line,
        column,
        "HT001",
        _("control character U+{code:04X} is not allowed in YAML", code=exc.character),
        _("delete it (it is often pasted in invisibly)"),
    )


def load_file(path: Path, display: str) -> tuple[Document | None, list[Diagnostic]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        said = _("not UTF-8 text ({reason} at byte {byte})", reason=exc.reason, byte=exc.start)
        return None, [Diagnostic(display, 1, 1, "HT003", said, _("save the file as UTF-8"))]
    except OSError as exc:
        said = _("cannot read the file: {reason}", reason=exc.strerror)
        return None, [Diagnostic(display, 1, 1, "HT003", said, _("check the path and permissions"))]
    return load_text(text, display)
