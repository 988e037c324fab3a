"""Order exports exactly as three platforms write them, with the truth behind them.

- `write_taobao`: Taobao/Tmall's 订单报表 (ExportOrderList): GBK, the platform's own
  column set, one row per order, order numbers and phones as `="..."`, statuses with
  full-width commas, partial refunds in 退款金额, no consent column.
- `write_jd`: JD's order export as a shop keeps it after Excel: GBK, one row per SKU with
  the order's fields (应付金额 too) repeated on every row, times as `2024/5/1 12:03`.
- `write_shopify`: Shopify's orders export: UTF-8, one row per line item (the order's
  fields only on its first row), times with the store's offset (` -0400` in summer,
  ` -0500` in winter), refunds, guests known by their email or phone, email consent in
  Accepts Marketing.

Each returns the buyers as the tests' own truth, computed here (never read back through
huitou): per buyer key, each order's local date, net amount, status and items.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Order:
    order_id: str
    day: dt.date  # the shop's local date
    net: float  # amount less refunds
    status: str  # paid | unpaid | cancelled | refunded, as huitou should read it
    items: list[tuple[str, str, int, float]] = field(default_factory=list)  # (sku, product, quantity, price)


@dataclass
class Buyer:
    key: str  # the customer id huitou should read
    orders: list[Order] = field(default_factory=list)


TAOBAO_COLUMNS = [
    "订单编号",
    "买家会员名",
    "买家支付宝账号",
    "买家应付货款",
    "买家应付邮费",
    "买家支付积分",
    "总金额",
    "返点积分",
    "买家实际支付金额",
    "买家实际支付积分",
    "订单状态",
    "买家留言",
    "收货人姓名",
    "收货地址",
    "运送方式",
    "联系电话",
    "联系手机",
    "订单创建时间",
    "订单付款时间",
    "宝贝标题",
    "宝贝种类",
    "物流单号",
    "物流公司",
    "订单备注",
    "宝贝总数量",
    "店铺Id",
    "店铺名称",
    "订单关闭原因",
    "卖家服务费",
    "买家服务费",
    "发票抬头",
    "是否手机订单",
    "分阶段订单信息",
    "特权订金订单id",
    "是否上传合同照片",
    "是否上传小票",
    "是否代付",
    "定金排名",
    "修改后的sku",
    "修改后的收货地址",
    "异常信息",
    "天猫卡券抵扣",
    "集分宝抵扣",
    "是否是O2O交易",
    "退款金额",
    "预约门店",
    "确认收货时间",
    "打款商家金额",
]
# The platform's status words, and what each means for huitou.
TAOBAO_STATUSES = {
    "交易成功": "paid",
    "卖家已发货，等待买家确认": "paid",
    "买家已付款，等待卖家发货": "paid",
    "等待买家付款": "unpaid",
    "交易关闭": "cancelled",
}
TEAS = [
    ("龙井", "西湖龙井 明前特级 250g"),
    ("普洱", "云南普洱 熟茶饼 357g"),
    ("白茶", "福鼎白茶 白牡丹 100g"),
    ("紫砂壶", "宜兴紫砂壶 西施壶"),
    ("茶杯", "青瓷茶杯 4只装"),
]


def write_taobao(path: Path, buyers: int = 120, seed: int = 41, as_of: dt.date = dt.date(2024, 11, 30)) -> dict[str, Buyer]:
    rng = random.Random(seed)
    truth: dict[str, Buyer] = {}
    rows = []
    number = 3_870_000_000_000_000_000
    for i in range(buyers):
        nick = rng.choice(["tb", "小", "茶友"]) + f"{i:04d}" + rng.choice(["", "_cn", "爱喝茶"])
        buyer = truth.setdefault(nick, Buyer(nick))
        phone = _mobile(rng)
        when = dt.datetime.combine(as_of, dt.time(0)) - dt.timedelta(days=rng.randrange(30, 500), minutes=rng.randrange(1440))
        for _ in range(rng.randrange(1, 5)):
            number += rng.randrange(1, 10**6)
            word = rng.choices(list(TAOBAO_STATUSES), weights=[60, 10, 8, 7, 15])[0]
            status = TAOBAO_STATUSES[word]
            title, product = rng.choice(TEAS)
            amount = round(rng.uniform(29, 899), 2)
            refund = round(amount * rng.choice([0.1, 0.25, 0.5]), 2) if status == "paid" and rng.random() < 0.12 else 0.0
            if status == "cancelled" and rng.random() < 0.5:
                refund = amount  # closed after a refund in full
            when += dt.timedelta(days=rng.randrange(0, 80), minutes=rng.randrange(1, 900))
            if when.date() > as_of:
                break
            paid_at = "" if status == "unpaid" else (when + dt.timedelta(minutes=2)).strftime("%Y-%m-%d %H:%M:%S")
            row = {c: "" for c in TAOBAO_COLUMNS} | {
                "订单编号": f'="{number}"',
                "买家会员名": nick,
                "买家支付宝账号": f"{phone[:3]}****{phone[-4:]}",
                "买家应付货款": f"{amount:.2f}",
                "买家应付邮费": "0.00",
                "买家支付积分": "0",
                "总金额": f"{amount:.2f}",
                "返点积分": "0",
                "买家实际支付金额": f"{amount:.2f}",
                "买家实际支付积分": "0",
                "订单状态": word,
                "收货人姓名": f"王{i % 50}",
                "收货地址": "浙江省 杭州市 西湖区 文三路 100号(310000)",
                "运送方式": "快递",
                "联系手机": f'="{phone}"',
                "订单创建时间": when.strftime("%Y-%m-%d %H:%M:%S"),
                "订单付款时间": paid_at,
                "宝贝标题": product,
                "宝贝种类": "1",
                "宝贝总数量": "1",
                "店铺Id": "123456789",
                "店铺名称": "回头小茶馆",
                "是否手机订单": "手机订单",
                "退款金额": f"{refund:.2f}",
                "打款商家金额": f"{amount - refund:.2f}元",
            }
            rows.append([row[c] for c in TAOBAO_COLUMNS])
            buyer.orders.append(Order(str(number), when.date(), amount - refund if status == "paid" else 0.0, status))
    rng.shuffle(rows)
    _write(path, TAOBAO_COLUMNS, rows, "gbk", "\r\n")
    return truth


JD_COLUMNS = [
    "订单号",
    "商品ID",
    "商品名称",
    "订购数量",
    "支付方式",
    "下单时间",
    "京东价",
    "订单金额",
    "结算金额",
    "余额支付",
    "应付金额",
    "订单状态",
    "订单类型",
    "下单帐号",
    "客户姓名",
    "客户地址",
    "联系电话",
    "订单备注",
    "发票类型",
    "发票抬头",
    "商家备注",
    "运费金额",
    "付款确认时间",
    "订单完成时间",
    "订单来源",
    "仓库名称",
]
JD_STATUSES = {"完成": "paid", "等待出库": "paid", "等待确认收货": "paid", "等待付款": "unpaid", "已取消": "cancelled"}
JD_SKUS = [
    ("100012043978", "保温杯 500ml", 89.0),
    ("100008348542", "咖啡豆 1kg", 139.0),
    ("100020512270", "手冲壶", 199.0),
    ("100009077475", "滤纸 100张", 19.9),
]


def write_jd(path: Path, buyers: int = 100, seed: int = 42, as_of: dt.date = dt.date(2024, 11, 30)) -> dict[str, Buyer]:
    rng = random.Random(seed)
    truth: dict[str, Buyer] = {}
    rows = []
    number = 280_000_000_000
    for i in range(buyers):
        account = f"jd_{rng.randrange(16**8):08x}"
        buyer = truth.setdefault(account, Buyer(account))
        when = dt.datetime.combine(as_of, dt.time(0)) - dt.timedelta(days=rng.randrange(20, 400), minutes=rng.randrange(1440))
        for _ in range(rng.randrange(1, 4)):
            number += rng.randrange(1, 10**5)
            word = rng.choices(list(JD_STATUSES), weights=[70, 8, 7, 5, 10])[0]
            when += dt.timedelta(days=rng.randrange(1, 90), minutes=rng.randrange(1, 600))
            if when.date() > as_of:
                break
            picked = rng.sample(JD_SKUS, rng.randrange(1, 4))
            items = [(sku, name, rng.randrange(1, 3), price) for sku, name, price in picked]
            total = round(sum(q * p for _, _, q, p in items), 2)
            payable = round(total - rng.choice([0, 0, 5, 10]), 2)
            # As Excel writes times back: no leading zeros, no seconds.
            written = f"{when.year}/{when.month}/{when.day} {when.hour}:{when.minute:02d}"
            for sku, name, quantity, price in items:
                row = {c: "" for c in JD_COLUMNS} | {
                    "订单号": str(number),
                    "商品ID": sku,
                    "商品名称": name,
                    "订购数量": str(quantity),
                    "支付方式": "在线支付",
                    "下单时间": written,
                    "京东价": f"{price:.2f}",
                    "订单金额": f"{total:.2f}",
                    "结算金额": f"{payable:.2f}",
                    "余额支付": "0",
                    "应付金额": f"{payable:.2f}",
                    "订单状态": word,
                    "订单类型": "普通订单",
                    "下单帐号": account,
                    "客户姓名": f"李{i % 40}",
                    "客户地址": "北京 朝阳区 建国路 1号",
                    "联系电话": _mobile(rng),
                    "订单来源": "移动端",
                    "仓库名称": "北京仓",
                }
                rows.append([row[c] for c in JD_COLUMNS])
            status = JD_STATUSES[word]
            buyer.orders.append(Order(str(number), when.date(), payable if status == "paid" else 0.0, status, items))
    _write(path, JD_COLUMNS, rows, "gbk", "\r\n")  # grouped by order, as the platform writes them
    return truth


SHOPIFY_COLUMNS = [
    "Name",
    "Email",
    "Financial Status",
    "Paid at",
    "Fulfillment Status",
    "Fulfilled at",
    "Accepts Marketing",
    "Currency",
    "Subtotal",
    "Shipping",
    "Taxes",
    "Total",
    "Discount Code",
    "Discount Amount",
    "Shipping Method",
    "Created at",
    "Lineitem quantity",
    "Lineitem name",
    "Lineitem price",
    "Lineitem compare at price",
    "Lineitem sku",
    "Lineitem requires shipping",
    "Lineitem taxable",
    "Lineitem fulfillment status",
    "Billing Name",
    "Billing Street",
    "Billing City",
    "Billing Zip",
    "Billing Province",
    "Billing Country",
    "Billing Phone",
    "Shipping Name",
    "Shipping City",
    "Shipping Country",
    "Notes",
    "Cancelled at",
    "Payment Method",
    "Refunded Amount",
    "Vendor",
    "Outstanding Balance",
    "Id",
    "Tags",
    "Risk Level",
    "Source",
    "Lineitem discount",
    "Phone",
    "Receipt Number",
]
SHOPIFY_PRODUCTS = [
    ("TEA-ENG-100", "English Breakfast Tea - 100g", 12.5),
    ("MUG-STN-1", "Stoneware Mug", 18.0),
    ("POT-GLS-1", "Glass Teapot", 34.0),
    ("INF-STL-1", "Steel Infuser", 7.5),
]
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def write_shopify(path: Path, buyers: int = 120, seed: int = 43, as_of: dt.date = dt.date(2024, 11, 30)) -> dict[str, Buyer]:
    """Orders fall around both DST changes of 2024 (10 March, 3 November) and in the
    evening, when New York's day is not UTC's."""
    rng = random.Random(seed)
    truth: dict[str, Buyer] = {}
    rows = []
    number, order_id = 1000, 5_600_000_000_000
    for i in range(buyers):
        email = f"buyer{i}@example.com"
        phone = f"+1212555{i:04d}"
        guest_without_email = i % 10 == 0  # a guest known only by a phone number
        key = phone if guest_without_email else email
        buyer = truth.setdefault(key, Buyer(key))
        accepts = "yes" if i % 3 else "no"
        anchor = rng.choice([dt.datetime(2024, 3, 10, 7), dt.datetime(2024, 11, 3, 6), dt.datetime(2024, 7, 4, 0), dt.datetime(2024, 1, 15, 0)])
        for _ in range(rng.randrange(1, 4)):
            number += 1
            order_id += rng.randrange(1, 10**6)
            instant = (anchor + dt.timedelta(days=rng.randrange(-2, 3), hours=rng.randrange(24), minutes=rng.randrange(60))).replace(tzinfo=dt.UTC)
            local = instant.astimezone(NEW_YORK)
            if local.date() > as_of:
                continue
            created = local.strftime("%Y-%m-%d %H:%M:%S %z")  # 2024-06-30 20:40:05 -0400
            items = [(sku, name, rng.randrange(1, 3), price) for sku, name, price in rng.sample(SHOPIFY_PRODUCTS, rng.randrange(1, 4))]
            subtotal = round(sum(q * p for _, _, q, p in items), 2)
            total = round(subtotal + 5.0, 2)
            state = rng.choices(["paid", "partially_refunded", "refunded", "pending", "voided"], weights=[70, 10, 8, 6, 6])[0]
            refunded = {"partially_refunded": round(items[0][3], 2), "refunded": total}.get(state, 0.0)
            status = {"paid": "paid", "partially_refunded": "paid", "refunded": "refunded", "pending": "unpaid", "voided": "cancelled"}[state]
            for k, (sku, name, quantity, price) in enumerate(items):
                row = {c: "" for c in SHOPIFY_COLUMNS} | {
                    "Name": f"#{number}",
                    "Email": "" if guest_without_email else email,
                    "Lineitem quantity": str(quantity),
                    "Lineitem name": name,
                    "Lineitem price": f"{price:.2f}",
                    "Lineitem sku": sku,
                    "Lineitem requires shipping": "true",
                    "Lineitem taxable": "true",
                    "Lineitem fulfillment status": "pending",
                    "Lineitem discount": "0.00",
                    "Vendor": "Teahouse",
                }
                if k == 0:  # only the first row of an order carries the order's fields
                    row |= {
                        "Financial Status": state,
                        "Paid at": created if status != "unpaid" else "",
                        "Fulfillment Status": "unfulfilled",
                        "Accepts Marketing": accepts,
                        "Currency": "USD",
                        "Subtotal": f"{subtotal:.2f}",
                        "Shipping": "5.00",
                        "Taxes": "0.00",
                        "Total": f"{total:.2f}",
                        "Discount Amount": "0.00",
                        "Shipping Method": "Standard",
                        "Created at": created,
                        "Billing Name": f"Buyer {i}",
                        "Billing City": "New York",
                        "Billing Zip": "10001",
                        "Billing Province": "NY",
                        "Billing Country": "US",
                        "Billing Phone": phone,
                        "Shipping Name": f"Buyer {i}",
                        "Shipping City": "New York",
                        "Shipping Country": "US",
                        "Cancelled at": created if status == "cancelled" else "",
                        "Payment Method": "Shopify Payments",
                        "Refunded Amount": f"{refunded:.2f}",
                        "Outstanding Balance": "0.00",
                        "Id": str(order_id),
                        "Risk Level": "Low",
                        "Source": "web",
                        "Phone": phone if guest_without_email else "",
                    }
                rows.append([row[c] for c in SHOPIFY_COLUMNS])
            buyer.orders.append(Order(f"#{number}", local.date(), round(total - refunded, 2) if status == "paid" else 0.0, status, items))
    _write(path, SHOPIFY_COLUMNS, rows, "utf-8", "\n")
    return truth


# Exports of one row per product with the order's fields on every row, by platform:
# (columns in the file's order, canonical -> column, status words -> what huitou reads).
REPEATED = {
    "woocommerce": (
        [
            "Order Number",
            "Order Status",
            "Order Date",
            "Customer Note",
            "First Name (Billing)",
            "Last Name (Billing)",
            "Email (Billing)",
            "Phone (Billing)",
            "Payment Method Title",
            "Cart Discount Amount",
            "Order Subtotal Amount",
            "Shipping Method Title",
            "Order Shipping Amount",
            "Order Refund Amount",
            "Order Total Amount",
            "Order Total Tax Amount",
            "SKU",
            "Item #",
            "Product Name",
            "Quantity",
            "Item Cost",
            "Coupon Code",
        ],
        {
            "order_id": "Order Number",
            "customer_id": "Email (Billing)",
            "status": "Order Status",
            "ordered_at": "Order Date",
            "amount": "Order Total Amount",
            "refunded_amount": "Order Refund Amount",
            "sku": "SKU",
            "product": "Product Name",
            "quantity": "Quantity",
            "price": "Item Cost",
        },
        {"Completed": "paid", "Processing": "paid", "On hold": "unpaid", "Cancelled": "cancelled", "Refunded": "refunded"},
    ),
    "youzan": (
        [
            "订单号",
            "订单状态",
            "下单时间",
            "付款时间",
            "买家手机号",
            "收货人/提货人",
            "收货人手机号",
            "商品名称",
            "商品编码",
            "商品规格",
            "商品数量",
            "商品单价",
            "订单实付金额",
            "退款金额",
            "配送方式",
            "买家备注",
        ],
        {
            "order_id": "订单号",
            "customer_id": "买家手机号",
            "status": "订单状态",
            "ordered_at": "下单时间",
            "amount": "订单实付金额",
            "refunded_amount": "退款金额",
            "sku": "商品编码",
            "product": "商品名称",
            "quantity": "商品数量",
            "price": "商品单价",
        },
        {"已完成": "paid", "已发货": "paid", "待发货": "paid", "待付款": "unpaid", "已关闭": "cancelled"},
    ),
}


def write_repeated(platform: str, path: Path, buyers: int = 80, seed: int = 44, as_of: dt.date = dt.date(2024, 11, 30)) -> dict[str, Buyer]:
    """A WooCommerce or Youzan export: one row per product, the order's fields (its total
    and refund too) on every row of the order."""
    columns, named, words = REPEATED[platform]
    rng = random.Random(seed)
    truth: dict[str, Buyer] = {}
    rows = []
    for i in range(buyers):
        key = f"buyer{i}@example.com" if platform == "woocommerce" else _mobile(rng)  # an id stays as written
        buyer = truth.setdefault(key, Buyer(key))
        when = dt.datetime.combine(as_of, dt.time(0)) - dt.timedelta(days=rng.randrange(20, 400), minutes=rng.randrange(1440))
        for _ in range(rng.randrange(1, 4)):
            when += dt.timedelta(days=rng.randrange(1, 90), minutes=rng.randrange(1, 600))
            if when.date() > as_of:
                break
            word = rng.choice(list(words))
            items = [(sku, name, rng.randrange(1, 3), price) for sku, name, price in rng.sample(JD_SKUS, rng.randrange(1, 4))]
            total = round(sum(q * p for _, _, q, p in items), 2)
            refund = round(total * 0.2, 2) if words[word] == "paid" and rng.random() < 0.2 else 0.0
            order_id = f"{len(rows) + 1000}" if platform == "woocommerce" else f"E2024{len(rows):012d}"
            for sku, name, quantity, price in items:
                row = {c: "" for c in columns} | {
                    named["order_id"]: order_id,
                    named["status"]: word,
                    named["ordered_at"]: when.strftime("%Y-%m-%d %H:%M:%S"),
                    named["customer_id"]: key,
                    named["amount"]: f"{total:.2f}",
                    named["refunded_amount"]: f"{refund:.2f}",
                    named["sku"]: sku,
                    named["product"]: name,
                    named["quantity"]: str(quantity),
                    named["price"]: f"{price:.2f}",
                }
                rows.append([row[c] for c in columns])
            buyer.orders.append(Order(order_id, when.date(), round(total - refund, 2) if words[word] == "paid" else 0.0, words[word], items))
    _write(path, columns, rows, "utf-8-sig" if platform == "woocommerce" else "utf-8", "\r\n")
    return truth


def _mobile(rng: random.Random) -> str:
    """A mainland mobile number of a block in use (phonenumbers knows it)."""
    return rng.choice(["138", "139", "150", "186", "177", "135"]) + f"{rng.randrange(10**8):08d}"


def _write(path: Path, columns: list[str], rows: list[list[str]], encoding: str, newline: str) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator=newline)
    writer.writerow(columns)
    writer.writerows(rows)
    path.write_bytes(text.getvalue().encode(encoding))
