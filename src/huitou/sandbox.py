"""The bounded sandbox message templates run in: Jinja's immutable sandbox, plus limits on
what a template can build and how long it can run.

Templates come from a shop's staff and run once per customer, so a careless or hostile
one must cost one `render_error` row, never the plan: `{{ 7**99999999 }}` must not hang
compilation, `{{ customer.name * 1000000000 }}` must not exhaust memory, two nested loops
over a long text must not run for hours. Every operation that can grow a value (`*`,
`**`, `%`, `+`, `~`, the growing str methods and filters, `range`) is checked *before* it
runs; what no check can see (a loop's running time) is stopped by RenderClock.

>>> env = BoundedSandbox()
>>> env.from_string("{{ 'ab' * 3 }}").render()
'ababab'
>>> env.from_string("{{ 'x' * 1000000000 }}").render()
Traceback (most recent call last):
...
huitou.sandbox.RenderBound: a text of 1,000,000,000 characters is over the bound of 1,000,000
"""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Iterable
from itertools import islice
from string import Formatter
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import FILTERS as JINJA_FILTERS
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .i18n import N_, _

MAX_CHARS = 1_000_000  # a message, or any text or list built while rendering one
MAX_INT_BITS = 10_000  # about 3,000 digits: no amount, count or date needs more
MAX_RANGE = 10_000  # items in a range(); a message lists a handful of things
MAX_SECONDS = 1.0  # per message; a message renders in well under a millisecond
TICK = 0.05  # how often RenderClock looks at the time


class RenderBound(Exception):
    """A template tried to build or run past a bound; the message is rendered as an error.
    Its text is English (a plan file holds it); `said()` is it in the chosen language."""

    def __init__(self, message: str, /, **fields: object) -> None:
        super().__init__(message.format(**fields))
        self.message, self.fields = message, fields

    def said(self) -> str:
        return _(self.message, **self.fields)


class RenderTimeout(RenderBound):
    """A message ran past MAX_SECONDS."""


def _size(value: object) -> int:
    return len(value) if isinstance(value, (str, list, tuple)) else 0


def _text(size: int, what: str = "text") -> None:
    if size > MAX_CHARS:
        said = (
            N_("a text of {size:,} characters is over the bound of {bound:,}")
            if what == "text"
            else N_("a {what} of {size:,} items is over the bound of {bound:,}")
        )
        raise RenderBound(said, what=what, size=size, bound=MAX_CHARS)


def _int_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        said = N_("a number of about {digits:,} digits is over the bound of {bound:,}")
        raise RenderBound(said, digits=int(bits * 0.30103), bound=int(MAX_INT_BITS * 0.30103))


def check_binop(op: str, left: Any, right: Any) -> None:
    """Refuse an operation whose result would be over a bound, before computing it."""
    if op == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
                _text(len(seq) * max(times, 0), "text" if isinstance(seq, str) else "list")
        if isinstance(left, int) and isinstance(right, int):
            _int_bits(abs(left).bit_length() + abs(right).bit_length())
    elif op == "**" and isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
        _int_bits(abs(left).bit_length() * right)
    elif op == "+":
        if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            _text(len(left) + len(right), "text" if isinstance(left, str) else "list")
    elif op == "%" and isinstance(left, str):
        check_percent_format(left, right)


_WIDTH = re.compile(r"\d+")
_PERCENT_SPEC = re.compile(r"%[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?[hlL]?[a-zA-Z%]")


def _widths(spec: str, args: Iterable[Any]) -> None:
    """Digits in a format spec are widths and precisions: bound them; a spec that takes
    its width from an argument (`*`, a nested `{}`) is bounded by the arguments."""
    for number in _WIDTH.findall(spec):
        _text(int(number))
    if "*" in spec or "{" in spec:
        for arg in args:
            if isinstance(arg, int) and not isinstance(arg, bool):
                _text(abs(arg))


def check_percent_format(fmt: str, args: Any) -> None:
    values = args if isinstance(args, tuple) else (args,)
    for spec in _PERCENT_SPEC.finditer(fmt):
        _widths(spec.group(0)[1:-1], values)


def check_str_format(fmt: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    try:
        parsed = list(Formatter().parse(fmt))
    except ValueError:
        return  # str.format raises the same error itself
    for _text, _name, spec, _conversion in parsed:
        if spec:
            _widths(spec, [*args, *kwargs.values()])


def _replaced_size(text: str, old: str, new: str, count: int = -1) -> int:
    hits = text.count(old) if old else len(text) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * (len(new) - len(old))


def _joined_size(items: list[Any], sep: str) -> int:
    return sum(len(str(item)) for item in items) + len(sep) * max(len(items) - 1, 0)


def check_str_method(text: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """The str methods whose result can be much longer than the text."""
    if name in ("center", "ljust", "rjust", "zfill") and args and isinstance(args[0], int):
        _text(args[0])
    elif name == "expandtabs":
        tab = args[0] if args else kwargs.get("tabsize", 8)
        _text(len(text) + text.count("\t") * max(int(tab), 0))
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        _text(_replaced_size(text, args[0], args[1], *args[2:3]))
    elif name == "translate" and args and isinstance(args[0], dict):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
        _text(len(text) * longest)
    elif name in ("format", "format_map"):
        check_str_format(text, args, kwargs)


def safe_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise RenderBound(N_("a range of {size:,} items is over the bound of {bound:,}"), size=len(numbers), bound=MAX_RANGE)
    return numbers


def _bounded_filter(name: str, check: Any) -> Any:
    original = JINJA_FILTERS[name]

    def bounded(*args: Any, **kwargs: Any) -> Any:
        check(*args, **kwargs)
        return original(*args, **kwargs)

    bounded.__name__ = original.__name__
    for attr in ("jinja_pass_arg",):  # pass_environment / pass_eval_context markers
        if hasattr(original, attr):
            setattr(bounded, attr, getattr(original, attr))
    return bounded


def _check_replace(*args: Any, **kwargs: Any) -> None:
    value, old, new, *rest = [a for a in args if not hasattr(a, "autoescape")] + [None, None, None]
    if isinstance(old, str) and isinstance(new, str):
        count = rest[0] if isinstance(rest[0], int) else kwargs.get("count")
        _text(_replaced_size(str(value), old, new, count if count is not None else -1))


def _check_width(value: Any, width: Any = 80, *rest: Any, **kwargs: Any) -> None:
    lines = str(value).count("\n") + 1
    if isinstance(width, int):
        _text(lines * width + len(str(value)))
    elif isinstance(width, str):
        _text(lines * len(width) + len(str(value)))


def _check_format(value: Any, *args: Any, **kwargs: Any) -> None:
    check_percent_format(str(value), tuple(args) or tuple(kwargs.values()))


def _check_join(*args: Any, **kwargs: Any) -> None:
    args = tuple(a for a in args if not hasattr(a, "autoescape"))  # the eval context
    if args and isinstance(args[0], (list, tuple)):
        sep = args[1] if len(args) > 1 and isinstance(args[1], str) else str(kwargs.get("d", ""))
        _text(_joined_size(list(args[0]), sep))


BOUNDED_FILTERS = {
    "replace": _check_replace,
    "center": _check_width,
    "indent": _check_width,
    "format": _check_format,
    "join": _check_join,
}


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles `a ~ b` so that the parts are measured before they are joined."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        else:
            join = "markup_join" if frame.eval_ctx.autoescape else "str_join"
        self.write(f"{join}(environment.measured((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(")))")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox (no list.append, dict.update: a template cannot grow a
    value in a loop) with every growing operation bounded (see the module docstring)."""

    code_generator_class = _BoundedCodeGenerator
    # Intercepted operators are also never folded at compile time, so `7**99999999` in
    # a template is refused when rendered, not computed by the compiler.
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.globals["range"] = safe_range
        del self.globals["lipsum"]  # lipsum(100000) is a book; no message needs filler text
        for name, check in BOUNDED_FILTERS.items():
            self.filters[name] = _bounded_filter(name, check)

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        check_binop(operator_, left, right)
        return self.binop_table[operator_](left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - Jinja's signature
        target = getattr(__obj, "__wrapped__", __obj)  # the sandbox wraps str.format
        owner = getattr(target, "__self__", None)
        if isinstance(owner, str):
            check_str_method(owner, getattr(target, "__name__", ""), args, kwargs)
            if getattr(target, "__name__", "") == "join":
                items = list(args[0]) if args else []
                _text(_joined_size(items, owner))
                args = (items, *args[1:])
        return super().call(__context, __obj, *args, **kwargs)

    @staticmethod
    def measured(parts: tuple[Any, ...]) -> tuple[Any, ...]:
        _text(sum(len(p) if isinstance(p, str) else len(str(p)) for p in parts))
        return parts


def bounded_output(chunks: Iterable[str]) -> str:
    """The text a template yields, refused as soon as it passes MAX_CHARS (a loop can
    print a bounded value many times)."""
    out: list[str] = []
    size = 0
    it = iter(chunks)
    while block := list(islice(it, 256)):
        size += sum(map(len, block))
        _text(size)
        out += block
    return "".join(out)


class RenderClock:
    """Stops a message that renders for longer than MAX_SECONDS with RenderBound.

    An interval timer (SIGALRM, every TICK seconds) looks at the time while a batch is
    rendered; `start()` and `stop()` around each message cost one clock read. Signals
    reach only the main thread, so elsewhere (a library caller's thread) the clock is off.
    """

    def __init__(self, seconds: float = MAX_SECONDS) -> None:
        self.seconds = seconds
        self.deadline: float | None = None
        self._previous: Any = None
        self.armed = False

    def __enter__(self) -> RenderClock:
        if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
            self._previous = signal.signal(signal.SIGALRM, self._tick)
            signal.setitimer(signal.ITIMER_REAL, TICK, TICK)
            self.armed = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.deadline = None
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0, 0)
            signal.signal(signal.SIGALRM, self._previous)
            self.armed = False

    def start(self) -> None:
        self.deadline = time.monotonic() + self.seconds

    def stop(self) -> None:
        self.deadline = None

    def _tick(self, signum: int, frame: object) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.deadline = None
            raise RenderTimeout(N_("the message took more than {seconds:g} s to render"), seconds=self.seconds)


class _NotConstant(Exception):
    pass


_BINOPS = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "FloorDiv": "//", "Pow": "**", "Mod": "%"}


def _constant(node: nodes.Node) -> Any:
    """The value of an expression made of literals, computed through the same bounds as
    rendering (RenderBound when it passes one); _NotConstant when it depends on data."""
    if isinstance(node, nodes.Const):
        return node.value
    if isinstance(node, nodes.List):
        return [_constant(item) for item in node.items]
    if isinstance(node, nodes.Tuple):
        return tuple(_constant(item) for item in node.items)
    if isinstance(node, nodes.BinExpr) and type(node).__name__ in _BINOPS:
        op, left, right = _BINOPS[type(node).__name__], _constant(node.left), _constant(node.right)
        check_binop(op, left, right)
        try:
            return ImmutableSandboxedEnvironment.default_binop_table[op](left, right)
        except Exception as exc:  # 1/0 and the like fail when rendered, with their own message
            raise _NotConstant from exc
    if isinstance(node, nodes.Concat):
        return "".join(str(part) for part in BoundedSandbox.measured(tuple(_constant(n) for n in node.nodes)))
    args = [_constant(a) for a in getattr(node, "args", [])]
    kwargs = {k.key: _constant(k.value) for k in getattr(node, "kwargs", [])}
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name == "range":
        return safe_range(*args)
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
        owner = _constant(node.node.node)
        if isinstance(owner, str):
            check_str_method(owner, node.node.attr, tuple(args), kwargs)
    if isinstance(node, nodes.Filter) and node.name in BOUNDED_FILTERS and node.node is not None:
        BOUNDED_FILTERS[node.name](_constant(node.node), *args, **kwargs)
    raise _NotConstant


def constant_bound_problems(tree: nodes.Template) -> list[tuple[int, str]]:
    """(line, what) for each expression of literals in a template that passes a bound of
    the sandbox: `huitou validate` reports them instead of a render_error per customer."""
    found: dict[tuple[int, str], None] = {}
    for node in tree.find_all((nodes.BinExpr, nodes.Concat, nodes.Call, nodes.Filter)):
        times = [n.value for n in (getattr(node, "left", None), getattr(node, "right", None)) if isinstance(n, nodes.Const)]
        if isinstance(node, nodes.Mul) and len(times) == 1 and isinstance(times[0], int) and times[0] > MAX_CHARS:
            # `customer.name * 1000000000`: over the bound for any text but the empty one
            said = _("a value repeated {times:,} times is over the bound of {bound:,} characters", times=times[0], bound=MAX_CHARS)
            found[(node.lineno, said)] = None
        try:
            _constant(node)
        except RenderBound as exc:
            found[(node.lineno, exc.said())] = None
        except (_NotConstant, TypeError, ValueError):
            pass
    return list(found)
