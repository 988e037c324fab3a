"""The plan peer a data team would write: pandas for the features and the candidates,
a Python loop for caps and care-first, a Jinja loop for the messages. Same playbook
(benchmarks/project/rules/bench20.yaml), same data, same decisions as `huitou plan`;
prints the sends per rule as JSON, and writes the messages to OUT (JSONL).

Usage: python benchmarks/peer_plan.py DATA_DIR AS_OF DAYS OUT
"""

import datetime as dt
import hashlib
import json
import sys
from pathlib import Path

import pandas as pd
import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from peer_pandas import features

from huitou.templates import FILTERS  # the template language's filters (money, date, mask, greeting)

HERE = Path(__file__).resolve().parent
PROJECT = HERE / "project"
CONTACT = {"sms": "phone", "email": "email", "wechat": "wechat_id", "phone": "phone"}
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
INTENT_RANK = {"care": 0, "service": 1, "promotion": 2}


def window_days(text: str) -> int:
    return int(text[:-1]) * (7 if text.endswith("w") else 1)


def birthday_in(born: pd.Series, year: int) -> pd.Series:
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    day = born.dt.day.where(~((born.dt.month == 2) & (born.dt.day == 29)) | leap, 28)
    return pd.to_datetime(pd.DataFrame({"year": year, "month": born.dt.month, "day": day}), errors="coerce")


def send_dates(when: dict, c: pd.DataFrame, start: pd.Timestamp, days: int) -> pd.DataFrame:
    """(customer_id, step, date) for every customer in c and every date of the timing."""
    if True in when:  # PyYAML reads the key `on` as YAML 1.1's boolean
        when = {"on" if k is True else k: v for k, v in when.items()}
    window = [start + pd.Timedelta(days=n) for n in range(days)]
    fixed: list[tuple[int, pd.Timestamp]] = []
    if when.get("immediate"):
        fixed = [(0, start)]
    elif "every" in when:
        every = when["every"]
        fixed = [
            (0, d) for d in window if (every == "month" and d.day == when["day"]) or (every in WEEKDAYS and d.weekday() == WEEKDAYS.index(every))
        ]
    elif when.get("before") == "double11":
        offsets = when["days"] if isinstance(when["days"], list) else [when["days"]]
        fixed = [(o, pd.Timestamp("2026-11-11") - pd.Timedelta(days=o)) for o in offsets]
    if fixed or not any(k in when for k in ("on", "after")):
        rows = [(cid, step, d) for step, d in fixed if start <= d < window[-1] + pd.Timedelta(days=1) for cid in c.index]
        return pd.DataFrame(rows, columns=["customer_id", "step", "date"])
    if when.get("on") == "birthday":
        born = pd.to_datetime(c["birthday"])
        dates = pd.concat([birthday_in(born, y) for y in sorted({d.year for d in window})])
        step = 0
    else:  # after last_order
        dates, step = c["last"] + pd.Timedelta(days=when["days"]), when["days"]
    dates = dates[(dates >= start) & (dates <= window[-1])]
    return pd.DataFrame({"customer_id": dates.index, "step": step, "date": dates.values})


def fits(accepted: list, day: int, intent: str, caps: list[dict], care_days: int) -> bool:
    for cap in caps:
        scoped = [d for d, i in accepted if cap.get("intent") in (None, i)]
        if cap.get("intent") not in (None, intent):
            continue
        per = window_days(cap["per"])
        for first in range(day - per + 1, day + 1):
            if sum(1 for d in scoped if first <= d < first + per) + 1 > cap["max"]:
                return False
    if intent == "promotion" and not any(i == "care" and day - care_days <= d <= day for d, i in accepted):
        return False
    return True


def main() -> None:
    data, as_of, days, out = Path(sys.argv[1]), pd.Timestamp(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    book = yaml.safe_load((PROJECT / "rules" / "bench20.yaml").read_text(encoding="utf-8"))
    channels = yaml.safe_load((PROJECT / "huitou.yaml").read_text(encoding="utf-8"))["channels"]
    policies = book["policies"]
    c, masks = features(data, as_of)
    c = c.rename(columns={"last": "last_order_date"}).assign(last=lambda f: f["last_order_date"])

    # Candidates: every rule's matching customers on its dates, with contact and consent.
    frames = []
    for index, (rule, mask) in enumerate(zip(book["rules"], masks)):
        matched = c[mask.fillna(False).astype(bool)]
        dates = send_dates(rule["when"], matched, as_of, days)
        channel = rule["channel"]
        contact = matched[CONTACT[channel]].fillna("").astype(str).str.strip() != ""
        consent = matched[f"consent_{channel}"].fillna(False).astype(bool)
        ok = (contact & consent).rename("ok")
        hhmm = rule["when"].get("at", "10:00")
        frames.append(
            dates.join(ok, on="customer_id").assign(
                rule=index,
                minutes=int(hhmm[:2]) * 60 + int(hhmm[3:]),
                priority=-rule.get("priority", 0),
                intent=INTENT_RANK[rule["intent"]],
            )
        )
    cand = pd.concat(frames, ignore_index=True)
    cand = cand[cand["ok"]].sort_values(["customer_id", "priority", "intent", "date", "minutes", "rule", "step"], kind="stable")

    # Caps and care-first: the greedy, one customer at a time.
    intents = [r["intent"] for r in book["rules"]]
    care_days = window_days(policies["care_first"]["within"])
    accepted_rows, current, accepted = [], None, []
    for row in cand.itertuples(index=False):
        if row.customer_id != current:
            current, accepted = row.customer_id, []
        day = (row.date - as_of).days
        if fits(accepted, day, intents[row.rule], policies["frequency_caps"], care_days):
            accepted.append((day, intents[row.rule]))
            accepted_rows.append(row)

    # Holdout, then render what is sent.
    share = int(float(str(policies["holdout"]).rstrip("%")) * 100)
    env = Environment(loader=FileSystemLoader(str(PROJECT / "templates" / "zh-CN")), undefined=StrictUndefined)
    env.filters.update(FILTERS)
    shop = yaml.safe_load((PROJECT / "huitou.yaml").read_text(encoding="utf-8"))["shop"]
    sends = {r["id"]: 0 for r in book["rules"]}
    lookup = c.loc[sorted({row.customer_id for row in accepted_rows})].to_dict("index")
    with out.open("w", encoding="utf-8") as f:
        for row in accepted_rows:
            if int(hashlib.md5(f"bench20:{row.customer_id}".encode()).hexdigest()[:8], 16) % 10000 < share:
                continue
            rule = book["rules"][row.rule]
            name = rule["template"][row.step] if isinstance(rule["template"], dict) else rule["template"]
            template = env.get_template(name)
            customer = {**lookup[row.customer_id], "customer_id": row.customer_id}
            at = (row.date + pd.Timedelta(minutes=row.minutes)).to_pydatetime().replace(tzinfo=dt.timezone(dt.timedelta(hours=8)))
            ctx = {
                "customer": customer,
                "shop": shop,
                "locale": "zh-CN",
                "send": {"at": at, "date": at.date(), "step": row.step, "event_date": dt.date(2026, 11, 11)},
                "unsubscribe_url": f"{channels['email']['unsubscribe_url']}?c={row.customer_id}",
                "rule": rule,
            }
            if rule["channel"] == "email":
                body = {b: "".join(template.blocks[b](template.new_context(ctx))).strip() for b in ("subject", "text", "html")}
            else:
                body = template.render(ctx).strip()
                if rule["channel"] == "sms":
                    body = channels["sms"]["signature"] + body + (channels["sms"]["opt_out"] if rule["intent"] == "promotion" else "")
            f.write(json.dumps({"customer_id": row.customer_id, "rule": rule["id"], "content": body}, ensure_ascii=False) + "\n")
            sends[rule["id"]] += 1
    print(json.dumps({"sends": sends}))


if __name__ == "__main__":
    main()
