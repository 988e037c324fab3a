"""A shop's own export, read as it comes: `huitou init DIR --from EXPORT`.

The head of the file tells its encoding and its columns; the columns tell the platform
that wrote it (a preset in presets/, one YAML file per platform: its columns, status
words and quirks), or a generic guess by column names. Then one pass over the whole file
counts each status it holds and tries its dates, and the proposal becomes the `data:`
section of a new project's huitou.yaml.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..data.csvfile import sniff_delimiter
from ..data.encoding import likely_encodings
from ..data.sources import DataError
from ..i18n import _

PROFILE_COLUMNS = ("email", "phone", "name", "consent_email", "consent_sms")
_HEAD = 1 << 16


@dataclass(frozen=True)
class Preset:
    """What a platform's order export looks like (presets/<platform>.yaml)."""

    platform: str
    title: str
    locale: str
    encoding: str
    recognise: tuple[str, ...]
    columns: dict[str, Any]
    fields: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    quirks: tuple[str, ...] = ()


def presets() -> list[Preset]:
    """Every platform preset shipped with huitou."""
    out = []
    for entry in sorted(resources.files(__package__).joinpath("presets").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            spec = yaml.safe_load(entry.read_text(encoding="utf-8"))
            out.append(
                Preset(
                    spec["platform"],
                    spec["title"],
                    spec["locale"],
                    spec["encoding"],
                    tuple(spec["recognise"]),
                    dict(spec["columns"]),
                    dict(spec.get("fields") or {}),
                    {k: {str(a): str(b) for a, b in v.items()} for k, v in (spec.get("values") or {}).items()},
                    tuple(spec.get("quirks") or ()),
                )
            )
    return out


# Column names of exports no preset knows, by canonical column (lower case, compared
# after removing blanks and underscores).
SYNONYMS = {
    "order_id": ("order_id", "orderid", "ordernumber", "orderno", "order#", "order", "name", "订单号", "订单编号", "注文番号", "受注番号"),
    "customer_id": (
        "customer_id",
        "customerid",
        "customer",
        "buyer",
        "buyerid",
        "member",
        "memberid",
        "email",
        "客户",
        "客户id",
        "买家",
        "买家id",
        "会员",
        "会员id",
        "买家会员名",
        "顾客",
        "購入者",
        "会員id",
        "顧客id",
    ),
    "ordered_at": (
        "ordered_at",
        "orderdate",
        "orderedat",
        "createdat",
        "date",
        "created",
        "time",
        "下单时间",
        "订单创建时间",
        "创建时间",
        "日期",
        "注文日時",
        "注文日",
        "受注日",
    ),
    "amount": (
        "amount",
        "total",
        "ordertotal",
        "totalamount",
        "paid",
        "revenue",
        "金额",
        "实付金额",
        "订单金额",
        "实付",
        "合计",
        "金額",
        "合計金額",
        "支払金額",
    ),
    "status": ("status", "orderstatus", "financialstatus", "state", "订单状态", "状态", "ステータス", "注文ステータス"),
    "refunded_amount": ("refunded_amount", "refundedamount", "refund", "refunds", "退款金额", "返金額"),
    "sku": ("sku", "productid", "itemid", "商品id", "商品编码", "商品コード"),
    "product": ("product", "productname", "item", "itemname", "title", "商品名称", "宝贝标题", "商品名"),
    "quantity": ("quantity", "qty", "数量", "商品数量", "購入数"),
    "price": ("price", "unitprice", "itemprice", "单价", "商品单价", "単価"),
    "category": ("category", "类目", "分类", "カテゴリ"),
    "email": ("email", "e-mail", "mail", "邮箱", "メールアドレス"),
    "phone": ("phone", "mobile", "tel", "telephone", "手机", "手机号", "联系手机", "电话", "電話番号"),
    "name": ("name", "customername", "fullname", "姓名", "收货人", "收货人姓名", "氏名", "名前"),
}


def _folded(name: str) -> str:
    return "".join(name.lower().split()).replace("_", "").replace("-", "")


def recognise(header: list[str]) -> Preset | None:
    """The preset every one of whose telling columns the header has (the most telling
    one when several fit), or None."""
    present = set(header)
    fitting = [p for p in presets() if all(c in present for c in p.recognise)]
    return max(fitting, key=lambda p: len(p.recognise), default=None)


def generic(header: list[str]) -> Preset:
    """A mapping guessed from column names for an export no preset knows."""
    folded = {_folded(h): h for h in header}
    columns: dict[str, Any] = {}
    for canonical, names in SYNONYMS.items():
        found = next((folded[_folded(n)] for n in names if _folded(n) in folded and folded[_folded(n)] not in columns.values()), None)
        if found is not None:
            columns[canonical] = found
    fields: dict[str, str] = {c: "string" for c in ("email", "phone", "name") if c in columns}
    return Preset("generic", "an export no preset knows (columns matched by name)", "", "", (), columns, fields)


def head_text(path: Path, locale: str = "") -> tuple[str, str]:
    """(encoding, the file's first line decoded): a byte order mark decides, else UTF-8
    when the head reads as UTF-8, else the likeliest export encoding."""
    with open(path, "rb") as handle:
        head = handle.read(_HEAD)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf_16"
    else:
        encoding = "utf_8"
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # not just a character cut by the 64 KiB read
                guesses = likely_encodings(path, locale)
                if not guesses:
                    raise DataError(_("{path}: neither UTF-8 nor an encoding huitou recognises; save it as UTF-8", path=path)) from None
                encoding = guesses[0]
    text = head.decode(encoding, errors="ignore")
    return encoding, text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""


def header_of(path: Path, locale: str = "") -> tuple[str, str, list[str]]:
    """(encoding, delimiter, column names) of a delimited export."""
    encoding, first = head_text(path, locale)
    if not first:
        raise DataError(_("{file}: the file is empty", file=path))
    delimiter = sniff_delimiter(first)
    names = [n.strip() for n in next(csv.reader(io.StringIO(first), delimiter=delimiter), [])]
    return encoding, delimiter, names
