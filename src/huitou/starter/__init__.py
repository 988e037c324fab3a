"""`huitou init`: the starter project, shipped as package data, in the shop's language.

files/common/ goes into every project; files/zh/ or files/en/ (by --locale) holds the
config, the first playbook and its templates, with `__LOCALE__` and `__TIMEZONE__` filled
in. Files whose name starts with `dot-` are written with a leading `.` (package data tools
skip hidden files). The JSON Schemas are copied in so editors find them offline, and a
small sample shop (data/), dated around today, lets `huitou plan` show something at once.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import secrets
import zoneinfo
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from .. import __version__
from ..errors import HuitouError
from ..i18n import _, tag_of
from ..schema import SCHEMAS

# Starter languages: the files/ variant, its default timezone, and sample names.
LANGUAGES = {
    "zh": ("zh", "Asia/Shanghai", ["王芳", "李娜", "张伟", "刘洋", "陈静", "杨磊", "赵敏", "黄强", "周婷", "吴刚"]),
    "ja": ("ja", "Asia/Tokyo", ["佐藤花子", "鈴木一郎", "高橋美咲", "田中健太", "伊藤由美", "渡辺翔", "山本恵", "中村大輔", "小林彩", "加藤誠"]),
    "en": (
        "en",
        "America/New_York",
        [
            "Emma Johnson",
            "Liam Smith",
            "Olivia Brown",
            "Noah Davis",
            "Ava Miller",
            "James Wilson",
            "Sophia Moore",
            "Lucas Taylor",
            "Mia Anderson",
            "Ethan Thomas",
        ],
    ),
}
SAMPLE_CUSTOMERS = 40


class StarterError(HuitouError, ValueError):
    """An option of `huitou init` that cannot be honoured; the message says why."""


def _files(node: Traversable, prefix: str = "") -> list[tuple[str, bytes]]:
    out = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        name = "." + child.name[4:] if child.name.startswith("dot-") else child.name
        if child.is_dir():
            out += _files(child, f"{prefix}{name}/")
        elif not child.name.endswith((".pyc", ".py")):
            out.append((prefix + name, child.read_bytes()))
    return out


def starter_files(
    locale: str = "zh-CN", timezone: str | None = None, today: dt.date | None = None, data: str | None = None
) -> list[tuple[str, bytes]]:
    """The starter project's files; `data`: huitou.yaml's `data:` section for the shop's
    own export (huitou init --from), in place of the sample shop."""
    language = locale.split("-")[0].lower()
    if language not in LANGUAGES:
        said = _(
            "--locale {locale}: the starter project comes in {languages} (e.g. zh-CN, en, en-GB); start from the nearest and add templates/<locale>/ for yours",
            locale=locale,
            languages=", ".join(sorted(LANGUAGES)),
        )
        raise StarterError(said)
    variant, default_zone, names = LANGUAGES[language]
    zone = timezone or default_zone
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise StarterError(
            _("--timezone {zone}: not a known IANA timezone (e.g. Asia/Shanghai, America/New_York, Europe/Berlin)", zone=zone)
        ) from None
    package = resources.files("huitou")
    project = secrets.token_hex(8)  # the project's id in its plans (contract.project_id)
    # The editor's schemas in the shop's language when huitou speaks it (schemas/zh-CN/...),
    # and the files' modelines and the editor's settings pointing at them.
    schemas = "schemas/" + (f"{tag}/" if (tag := tag_of(locale)) and tag != "en" else "")
    spoken = (tag or "en").encode()  # the workflow's language: the shop's, where huitou speaks it
    files = [
        (rel, content.replace(b"__HUITOU_VERSION__", __version__.encode()).replace(b"__HUITOU_LANG__", spoken) if rel.endswith(".yml") else content)
        for rel, content in _files(package.joinpath("starter").joinpath("files").joinpath("common"))
    ]
    files = [(rel, content.replace(b'"./schemas/', f'"./{schemas}'.encode()) if rel.endswith("settings.json") else content) for rel, content in files]
    for rel, content in _files(package.joinpath("starter").joinpath("files").joinpath(variant)):
        if rel.endswith((".yaml", ".yml")):
            text = content.decode("utf-8").replace("__LOCALE__", locale).replace("__TIMEZONE__", zone).replace("__PROJECT_ID__", project)
            text = text.replace("$schema=schemas/", f"$schema={schemas}").replace("$schema=../schemas/", f"$schema=../{schemas}")
            if rel == "huitou.yaml" and data is not None:
                text = text[: text.index("\ndata:\n") + 1] + data
            content = text.encode("utf-8")
        files.append((rel, content))
    folder = package.joinpath(*schemas.strip("/").split("/"))
    files += [(schemas + name, folder.joinpath(name).read_bytes()) for name in SCHEMAS.values()]
    if data is None:
        today = today or dt.datetime.now(zoneinfo.ZoneInfo(zone)).date()
        files += sample_data(names, language, today)
    return files


def sample_data(names: list[str], language: str, today: dt.date) -> list[tuple[str, bytes]]:
    """data/customers.csv and data/orders.csv: a small shop whose orders lead up to
    `today`, so that every rule of the starter playbook has customers to plan for."""
    rng = random.Random(7)
    customers = io.StringIO()
    orders = io.StringIO()
    cw, ow = csv.writer(customers, lineterminator="\n"), csv.writer(orders, lineterminator="\n")
    cw.writerow(["customer_id", "name", "phone", "email", "birthday", "consent_sms", "consent_email"])
    ow.writerow(["order_id", "customer_id", "ordered_at", "amount", "status", "delivered_at"])
    order_no = 1000
    for i in range(SAMPLE_CUSTOMERS):
        cid = f"C{i + 1:04d}"
        name = names[i % len(names)]
        # 555-0100 to 555-0199: the numbers North America keeps for fiction, valid in form.
        phone = {"zh": f"138{i:08d}", "ja": f"+81901234{i:04d}"}.get(language) or f"+1{('212', '646', '718', '917')[i // 100 % 4]}55501{i % 100:02d}"
        birthday = dt.date(1970 + rng.randrange(35), 1 + rng.randrange(12), 1 + rng.randrange(28))
        cw.writerow(
            [
                cid,
                name,
                phone,
                f"customer{i + 1}@example.com",
                birthday.isoformat(),
                "true" if i % 5 else "false",
                "true" if i % 4 else "false",
            ]
        )
        # A quarter are first-time buyers whose parcel arrived in the last three days; the
        # rest bought a few times over the last year.
        first_time = i % 4 == 0
        ages = [rng.randrange(3, 6)] if first_time else sorted({rng.randrange(5, 360) for _ in range(1 + rng.randrange(4))}, reverse=True)
        for age in ages:
            order_no += 1
            placed = dt.datetime.combine(today - dt.timedelta(days=age), dt.time(9 + rng.randrange(11), rng.randrange(60)))
            delivered = placed + dt.timedelta(days=2 + (age - 3 if first_time and age > 3 else rng.randrange(2)))
            status = "unpaid" if not first_time and age < 10 and rng.random() < 0.3 else "paid"
            amount = f"{rng.randrange(1900, 49900) / 100:.2f}"
            ow.writerow(
                [
                    f"O{order_no}",
                    cid,
                    placed.isoformat(sep=" ", timespec="minutes"),
                    amount,
                    status,
                    delivered.isoformat(sep=" ", timespec="minutes") if status == "paid" and delivered.date() <= today else "",
                ]
            )
    return [("data/customers.csv", customers.getvalue().encode("utf-8")), ("data/orders.csv", orders.getvalue().encode("utf-8"))]


def write_starter(directory: Path, *, force: bool = False, locale: str = "zh-CN", timezone: str | None = None, data: str | None = None) -> list[Path]:
    files = starter_files(locale, timezone, data=data)
    targets = [(directory / rel, content) for rel, content in files]
    existing = [str(p) for p, _ in targets if p.exists()]
    if existing and not force:
        raise FileExistsError(f"{len(existing)} file(s) exist already, e.g. {existing[0]}")
    for path, content in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return [p for p, _ in targets]
