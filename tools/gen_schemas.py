"""Writes schemas/*.json. The schemas are the source of truth once written; this script
exists so their shared pieces (durations, anchors, channel kinds) are spelled once."""

import json
from pathlib import Path

ID = "^[a-z0-9][a-z0-9_.-]*$"
DURATION = {
    "type": "string",
    "pattern": "^[1-9][0-9]*[hdw]$",
    "description": "A duration: hours (24h), days (7d) or weeks (2w).",
    "examples": ["7d", "24h", "2w"],
}
CLOCK = {
    "type": "string",
    "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$",
    "description": 'A local time of day, HH:MM (quote it: "10:30").',
    "examples": ["10:30", "21:00"],
}
FIELD_TYPES = ["integer", "money", "number", "date", "string", "boolean", "list"]
KINDS = ["sms", "email", "wechat", "im", "phone", "parcel_insert"]
ANCHOR = {
    "type": "string",
    "minLength": 1,
    "description": "A date (2026-11-11), a customer date (birthday, first_order_anniversary, last_order, last_delivery, purchase_due, or a date field declared in huitou.yaml), shop_anniversary (huitou.yaml shop.founded), a holiday name (spring_festival, mid_autumn, qixi, double11, ...) or a country's holiday as CC:name (JP:respect_for_the_aged_day).",
    "examples": ["2026-11-11", "birthday", "last_delivery", "spring_festival", "double11", "JP:respect_for_the_aged_day"],
}
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

when = {
    "title": "When",
    "description": "When the message goes out, in the customer's timezone (fallback: the playbook's). Exactly one of on, before, after, every, immediate.",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "on": {**ANCHOR, "description": "Send on this day. " + ANCHOR["description"]},
        "before": {**ANCHOR, "description": "Send `days` before this day. " + ANCHOR["description"]},
        "after": {**ANCHOR, "description": "Send `days` after this day. " + ANCHOR["description"]},
        "days": {
            "description": "Offset in days from the anchor; a list gives several steps (the 7/3/1 countdown).",
            "oneOf": [
                {"type": "integer", "minimum": 0, "maximum": 3660},
                {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 3660}, "minItems": 1, "uniqueItems": True},
            ],
            "examples": [3, [7, 3, 1]],
        },
        "every": {
            "type": "string",
            "enum": ["day", "month", *WEEKDAYS],
            "description": "Recurring: every day, every month (on `day`), or every given weekday.",
        },
        "day": {"type": "integer", "minimum": 1, "maximum": 31, "description": "Day of the month, with every: month."},
        "immediate": {
            "type": "boolean",
            "const": True,
            "description": "As soon as the customer matches (unpaid order, bad review); still subject to quiet hours.",
        },
        "per": {
            "type": "string",
            "enum": ["order", "purchase", "review", "delivery", "customer"],
            "description": "With immediate: what one message answers, so that daily plans send it once. order (default): the latest order of any status (an unpaid order); purchase: the latest purchase; review: the latest rated order; delivery: the latest delivery; customer: once per customer.",
        },
        "at": {**CLOCK, "description": "Local time of day to send. " + CLOCK["description"]},
        "weekdays": {
            "type": "array",
            "items": {"type": "string", "enum": WEEKDAYS},
            "uniqueItems": True,
            "minItems": 1,
            "description": "Allowed weekdays; a send on another day moves to the next allowed one.",
        },
    },
    "oneOf": [
        {"required": ["on"]},
        {"required": ["before", "days"]},
        {"required": ["after", "days"]},
        {"required": ["every"]},
        {"required": ["immediate"]},
    ],
    "dependencies": {"per": ["immediate"]},
    "errorMessage": "`when` needs exactly one of: on, before (with days), after (with days), every, immediate",
    "examples": [{"after": "last_delivery", "days": 3, "at": "10:30"}, {"before": "double11", "days": [7, 3, 1], "at": "12:00"}],
}

rule = {
    "title": "Rule",
    "description": "One play: a segment, a timing, a channel and a template.",
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "intent", "segment", "when", "channel", "template"],
    "properties": {
        "id": {
            "type": "string",
            "pattern": ID,
            "description": "Unique id, lower case; part of every idempotency key, so keep it stable.",
            "examples": ["new-delivery-checkin"],
        },
        "description": {"type": "string"},
        "intent": {
            "type": "string",
            "enum": ["care", "promotion", "service"],
            "description": "care (wishes, check-ins), promotion (offers; needs a prior care touch) or service (payment reminders, fixing problems).",
        },
        "segment": {
            "type": "string",
            "minLength": 1,
            "description": "A named segment or a predicate, e.g. `new AND NOT has_unpaid_order`.",
            "examples": ["new", "days_since_last_order BETWEEN 90 AND 180"],
        },
        "when": {"$ref": "#/definitions/when"},
        "channel": {
            "type": "string",
            "minLength": 1,
            "description": "A channel configured in huitou.yaml, or a built-in kind.",
            "examples": KINDS,
        },
        "template": {
            "description": "Template path under templates/<locale>/, or one per countdown step: {7: sms/d7.j2, 3: sms/d3.j2}.",
            "oneOf": [
                {"type": "string", "pattern": "\\.j2$"},
                {
                    "type": "object",
                    "propertyNames": {"pattern": "^[0-9]+$"},
                    "additionalProperties": {"type": "string", "pattern": "\\.j2$"},
                    "minProperties": 1,
                },
            ],
            "examples": ["sms/delivery_checkin.j2"],
        },
        "priority": {
            "type": "integer",
            "minimum": -1000,
            "maximum": 1000,
            "default": 0,
            "description": "Higher wins when caps allow fewer messages than match.",
        },
        "attribution_window": {
            "$ref": "#/definitions/duration",
            "description": "This rule's attribution window in `huitou report`, instead of the playbook's.",
            "examples": ["7d"],
        },
        "lawful_basis": {
            "type": "string",
            "enum": ["consent", "soft_opt_in", "contract"],
            "default": "consent",
            "description": "Why this customer may be contacted; recorded on every plan row.",
        },
        "enabled": {"type": "boolean", "default": True},
    },
}

playbook = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "$id": "https://huitou.dev/schemas/playbook.v1.schema.json",
    "title": "huitou playbook, version 1",
    "description": "A retention playbook: segments, policies and rules.",
    "type": "object",
    "additionalProperties": False,
    "required": ["version", "name", "rules"],
    "definitions": {"when": when, "rule": rule, "duration": DURATION, "clock": CLOCK},
    "patternProperties": {"^x-": {"description": "Extension keys, ignored by huitou: a place for YAML anchors (x-defaults: &care ...)."}},
    "properties": {
        "version": {"const": 1, "description": "Format version; always 1 for now."},
        "name": {"type": "string", "pattern": ID, "description": "Playbook name, unique in the project."},
        "description": {"type": "string"},
        "timezone": {
            "type": "string",
            "default": "Asia/Shanghai",
            "description": "IANA timezone; dates and send times are local to it unless the customer has one.",
            "examples": ["Asia/Shanghai", "Asia/Tokyo"],
        },
        "locale": {
            "type": "string",
            "pattern": "^[a-z]{2,3}(-[A-Z][A-Za-z]{1,3})?$",
            "default": "zh-CN",
            "description": "Default template locale.",
            "examples": ["zh-CN", "en", "ja-JP"],
        },
        "lifecycle": {
            "title": "Lifecycle thresholds",
            "type": "object",
            "additionalProperties": False,
            "description": "Upper bounds (days since last order) of the lifecycle stages.",
            "properties": {
                k: {"type": "integer", "minimum": 1, "default": v}
                for k, v in [("active_within", 45), ("cooling_within", 89), ("dormant_high_within", 180), ("dormant_low_within", 360)]
            },
        },
        "segments": {
            "type": "object",
            "description": "Named segments: a predicate each, usable as terms in rules and other segments.",
            "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
            "additionalProperties": {
                "oneOf": [
                    {"type": "string", "minLength": 1},
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["where"],
                        "properties": {"where": {"type": "string", "minLength": 1}, "description": {"type": "string"}},
                    },
                ]
            },
            "examples": [{"new": "order_count = 1 AND days_since_last_order <= 45"}],
        },
        "policies": {
            "title": "Policies",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "quiet_hours": {
                    "type": "object",
                    "additionalProperties": False,
                    "anyOf": [{"required": ["preset"]}, {"required": ["start", "end"]}],
                    "properties": {
                        "preset": {
                            "type": "string",
                            "enum": ["US", "JP"],
                            "description": "A country's legal hours at the customer's location: US 21:00-08:00 (TCPA), JP 21:00-08:00 (特定商取引法). start and end may narrow it, never widen it.",
                        },
                        "start": {"$ref": "#/definitions/clock"},
                        "end": {"$ref": "#/definitions/clock"},
                        "outside": {"type": "string", "enum": ["defer", "drop"], "default": "defer"},
                    },
                    "description": "No message between start and end (the customer's local time), at planning and at delivery; defer to the end or drop. Or a country preset.",
                },
                "frequency_caps": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["max", "per"],
                        "properties": {
                            "max": {"type": "integer", "minimum": 0},
                            "per": {"$ref": "#/definitions/duration"},
                            "channel": {"type": "string"},
                            "intent": {"type": "string", "enum": ["care", "promotion", "service"]},
                        },
                    },
                    "description": "At most `max` messages per customer per window, optionally per channel or intent.",
                },
                "care_first": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["within"],
                    "properties": {"within": {"$ref": "#/definitions/duration"}},
                    "description": "A promotion needs a care touch to the same customer within this window.",
                },
                "holdout": {
                    "description": "A control group that gets nothing: a share (10%) or {share, salt}.",
                    "oneOf": [
                        {"type": "string", "pattern": "^(100|[0-9]{1,2}(\\.[0-9]+)?)%$"},
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["share"],
                            "properties": {
                                "share": {"type": "string", "pattern": "^(100|[0-9]{1,2}(\\.[0-9]+)?)%$"},
                                "salt": {"type": "string"},
                            },
                        },
                    ],
                    "examples": ["10%"],
                },
                "attribution_window": {
                    "$ref": "#/definitions/duration",
                    "description": "How long after a message's scheduled time a purchase counts as its outcome in `huitou report` (default 14d; hours round up to whole days).",
                    "examples": ["14d", "2w"],
                },
            },
        },
        "rules": {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/rule"}},
    },
}

source = {
    "title": "Data source",
    "type": "object",
    "additionalProperties": False,
    "anyOf": [{"required": ["path"]}, {"required": ["table"]}],
    "errorMessage": "give path (a file), or table (a table of the project's engine: docs/engines.md)",
    "properties": {
        "path": {"type": "string", "description": "File (CSV, Parquet, JSONL) or DuckDB database, relative to huitou.yaml."},
        "format": {"type": "string", "enum": ["csv", "parquet", "jsonl", "duckdb"], "description": "Default: from the file extension."},
        "table": {
            "type": "string",
            "minLength": 1,
            "description": "With path: the table of a DuckDB database file. Without path (orders and customers): a table of the project's engine, as its SQL names it - schema.table on PostgreSQL, db.table or parquet.`/path` on Spark (docs/engines.md).",
        },
        "columns": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "properties": {
                "customer_id": {
                    "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
                    "description": "The id column, or several: the first present in a row is the id (e.g. [Email, Phone]: guests without an email are known by their phone).",
                }
            },
            "description": "Canonical name -> your column name, e.g. {ordered_at: date}.",
        },
        "csv": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "delimiter": {"type": "string", "description": "A character, or `whitespace` for space-aligned files."},
                "header": {"type": "boolean", "default": True},
                "names": {"type": "array", "items": {"type": "string"}, "description": "Column names when the file has no header."},
                "date_format": {"type": "string", "description": "strftime format of dates, e.g. %Y%m%d."},
                "encoding": {
                    "type": "string",
                    "minLength": 1,
                    "description": "The file's text encoding when it is not UTF-8: gbk (read as its superset gb18030), big5, shift_jis (read as cp932), "
                    "euc_kr (cp949), utf-16, cp1252, latin-1, or any name Python knows. Default: a byte order mark decides, else UTF-8.",
                    "examples": ["gbk", "shift_jis", "utf-16"],
                },
                "quote": {"type": "string"},
            },
        },
        "fields": {
            "type": "object",
            "propertyNames": {"pattern": "^[a-z_][a-z0-9_]*$"},
            "additionalProperties": {
                "oneOf": [
                    {"type": "string", "enum": FIELD_TYPES},
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["type"],
                        "properties": {
                            "type": {"type": "string", "enum": FIELD_TYPES},
                            "max_length": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 1000,
                                "description": "The longest value (characters): what the SMS length check (HT404) assumes.",
                            },
                            "charset": {
                                "type": "string",
                                "enum": ["gsm7", "ucs2"],
                                "description": "gsm7: the values are plain Latin text; ucs2: they may hold any character (Chinese, emoji). Default: by the playbook's locale.",
                            },
                        },
                    },
                ]
            },
            "description": "Extra profile columns usable in predicates and templates, with their types (or {type, max_length, charset}; a standard field such as name may be listed to declare its limits). On orders (when there is no customers file): profile columns that sit on the order rows, taken from each customer's latest order.",
            "examples": [{"vip_level": "integer", "name": {"type": "string", "max_length": 20, "charset": "gsm7"}}],
        },
        "values": {
            "type": "object",
            "additionalProperties": {"type": "object", "additionalProperties": {"type": ["string", "boolean", "integer"]}},
            "description": "Canonical column -> {value in your file: value huitou reads}, e.g. status: {Completed: paid, Cancelled: cancelled, Returned: refunded} or consent_sms: {Yes: true, No: false}. Exact match after trimming; other values pass unchanged.",
            "examples": [{"status": {"Completed": "paid", "Cancelled": "cancelled", "Returned": "refunded"}}],
        },
        "max_rejected": {
            "type": "string",
            "pattern": "^([0-9]|[1-9][0-9]|100)(\\.[0-9]+)?%$",
            "default": "50%",
            "description": "When more than this share of the rows is rejected, the command stops with exit 1 (a mapping is probably missing).",
        },
    },
}

secret_ref = {
    "type": "string",
    "pattern": "^[A-Z_][A-Z0-9_]*$",
    "description": "Name of an environment variable holding the secret (never the secret itself).",
}
channel = {
    "title": "Channel",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "kind": {"type": "string", "enum": KINDS, "description": "Default: the channel's name, when it is a kind."},
        "signature": {"type": "string", "description": "SMS signature added to every message, e.g. 【回头小店】; counted in the length."},
        "opt_out": {"type": "string", "description": "SMS opt-out text added to marketing messages, e.g. 回T退订; counted in the length."},
        "max_segments": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1, "description": "SMS length budget in segments."},
        "from": {"type": "string", "description": "Email sender, e.g. 'Shop <care@shop.example>'."},
        "reply_to": {"type": "string"},
        "unsubscribe_url": {"type": "string", "description": "Base URL for List-Unsubscribe; a per-recipient token is appended."},
        "unsubscribe_secret_env": {
            **secret_ref,
            "description": "Name of an environment variable holding the secret that signs the per-recipient unsubscribe tokens (email).",
        },
        "smtp": {
            "type": "object",
            "additionalProperties": False,
            "required": ["host"],
            "properties": {
                "host": {"type": "string"},
                "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                "security": {"type": "string", "enum": ["starttls", "ssl", "none"], "default": "starttls"},
                "plaintext_auth": {
                    "type": "boolean",
                    "default": False,
                    "description": "With security: none, log in anyway: the password crosses the network in clear. Only for a relay on a trusted network (HT509).",
                },
                "username_env": secret_ref,
                "password_env": secret_ref,
                "timeout": {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "default": 30,
                    "description": "Seconds for the whole opening (greeting, TLS, login) and for each message, however slowly the server answers.",
                },
            },
        },
        "webhook": {
            "type": "object",
            "additionalProperties": False,
            "required": ["url"],
            "properties": {
                "url": {"type": "string", "pattern": "^https?://"},
                "secret_env": secret_ref,
                "timeout": {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "default": 10,
                    "description": "Seconds for the whole request and answer, however slowly it comes.",
                },
            },
        },
        "outbox": {
            "description": "Directory for files people act on (SMS vendor uploads, call lists, print lists): one CSV per channel and day. "
            "A record is written when its send_at comes, unless `ahead: true` (a vendor that schedules by the send_at column).",
            "oneOf": [
                {"type": "string"},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["path"],
                    "properties": {
                        "path": {"type": "string"},
                        "ahead": {
                            "type": "boolean",
                            "default": False,
                            "description": "Write every row up to --until at once, each with its send_at: the receiver schedules.",
                        },
                    },
                },
            ],
        },
        "concurrency": {
            "type": "integer",
            "minimum": 1,
            "maximum": 256,
            "description": "Messages in flight at once on this channel: SMTP connections, or HTTP requests each on a kept-alive connection (default: 4 for smtp, "
            "8 for a webhook; an outbox is written one message at a time). The rate limit holds however many are in flight.",
        },
        "max_pause": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 86400,
            "default": 600,
            "description": "Seconds: the longest the channel waits when its receiver answers Retry-After. A longer wait stops the channel (exit 1, its rows "
            "stay pending for the next run) instead of holding the run and the ledger for hours.",
        },
        "rate": {
            "type": "object",
            "additionalProperties": False,
            "description": "Most messages per second, per minute, or both (each holds in every window of its length); messages are spaced evenly.",
            "properties": {
                "per_second": {"type": "number", "exclusiveMinimum": 0},
                "per_minute": {"type": "number", "exclusiveMinimum": 0},
            },
        },
        "cost": {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "description": "What a message costs, for the spend and return in `huitou report`: per message, per segment (an SMS's 70/160-character parts; 1 a message elsewhere), or both.",
            "properties": {
                "per_message": {"type": "number", "minimum": 0},
                "per_segment": {"type": "number", "minimum": 0},
                "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217, e.g. CNY"},
            },
            "examples": [{"per_segment": 0.045, "currency": "CNY"}],
        },
        "contact": {"type": "string", "description": "Customer column holding the address. Default by kind: phone, email, wechat_id."},
        "consent": {"type": "string", "description": "Customer column holding consent. Default: consent_<kind>."},
    },
}

project = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "$id": "https://huitou.dev/schemas/project.v1.schema.json",
    "title": "huitou project (huitou.yaml), version 1",
    "type": "object",
    "additionalProperties": False,
    "required": ["version"],
    "definitions": {"source": source, "channel": channel},
    "patternProperties": {"^x-": {"description": "Extension keys, ignored by huitou: a place for YAML anchors."}},
    "properties": {
        "version": {"const": 1},
        "name": {"type": "string"},
        "id": {
            "type": "string",
            "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
            "description": "Names this project in its plan files (default: name): huitou send refuses a plan of another project. huitou init writes a random one.",
        },
        "playbooks": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["rules"],
            "description": "Directories or files holding playbooks.",
        },
        "templates": {"type": "string", "default": "templates", "description": "Template directory (one subdirectory per locale)."},
        "default_locale": {
            "type": "string",
            "default": "zh-CN",
            "description": "Locale to fall back to when a template is missing in the customer's.",
        },
        "language": {
            "type": "string",
            "enum": ["en", "zh-CN", "ja"],
            "description": "The language huitou speaks to this project's people (messages, reports, --help): en, zh-CN or ja. --lang and HUITOU_LANG override it; without it, the locale of the environment (LANG).",
        },
        "timezone": {
            "type": "string",
            "default": "Asia/Shanghai",
            "description": "Timezone of the data's local dates when the evaluated playbooks do not name one (huitou features).",
        },
        "shop": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string"},
                "url": {"type": "string"},
                "phone": {"type": "string"},
                "founded": {
                    "type": "string",
                    "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                    "description": "The shop's founding date: the `shop_anniversary` anchor repeats it every year.",
                },
                "country": {
                    "type": "string",
                    "pattern": "^[A-Z]{2}$",
                    "description": "ISO 3166 country code: phone numbers written without a country code are this country's (default: the region of default_locale, zh-CN: CN).",
                },
            },
            "description": "Shop facts templates can use as shop.name etc.",
        },
        "identity": {
            "type": "object",
            "additionalProperties": False,
            "description": "How customer ids are compared (docs/data.md#identity-and-contacts).",
            "properties": {
                "email_ids": {
                    "type": "string",
                    "enum": ["ignore_case", "exact"],
                    "default": "ignore_case",
                    "description": "ignore_case: an id that is an email address is one customer however its letters are cased.",
                },
                "phone_ids": {
                    "type": "string",
                    "enum": ["e164", "exact"],
                    "default": "e164",
                    "description": "e164: an id written as an international phone number (+86 138...) or taken from a fallback id column is compared in E.164.",
                },
            },
        },
        "data": {
            "type": "object",
            "additionalProperties": False,
            "properties": {k: {"$ref": "#/definitions/source"} for k in ["orders", "customers", "history", "suppression", "products"]},
        },
        "channels": {
            "type": "object",
            "propertyNames": {"pattern": "^[a-z][a-z0-9_]*$"},
            "additionalProperties": {"$ref": "#/definitions/channel"},
        },
        "referral": {
            "type": "object",
            "additionalProperties": False,
            "required": ["secret_env"],
            "description": "Referral codes: each customer's signed code and link (features referral_code, referral_url; referred_orders counts orders placed with it).",
            "properties": {
                "url": {"type": "string", "pattern": "^https?://", "description": "The referral page; the link adds ?code=CODE."},
                "secret_env": {
                    "type": "string",
                    "pattern": "^[A-Z_][A-Z0-9_]*$",
                    "description": "The environment variable holding the secret that signs the codes.",
                },
            },
            "examples": [{"url": "https://shop.example.cn/r", "secret_env": "HUITOU_REFERRAL_SECRET"}],
        },
        "associations": {
            "type": "object",
            "description": "What goes with each category, best first, for shops without a catalog (data.products): the features recommendations and has_recommendation.",
            "additionalProperties": {"type": "array", "items": {"type": "string", "minLength": 1}},
            "examples": [{"down_jacket": ["sweater", "scarf"]}],
        },
        "engine": {
            "type": "object",
            "additionalProperties": False,
            "description": "Where the features are computed (docs/engines.md): the embedded DuckDB by default, or Spark or PostgreSQL where the shop keeps its data; --engine overrides the kind.",
            "properties": {
                "kind": {"enum": ["duckdb", "spark", "postgres"], "default": "duckdb"},
                "master": {
                    "type": "string",
                    "minLength": 1,
                    "default": "local[2]",
                    "description": "Spark only: the master URL (local[N], spark://host:port, yarn).",
                },
                "conf": {
                    "type": "object",
                    "additionalProperties": {"type": ["string", "number", "boolean"]},
                    "description": "Spark only: session settings, e.g. spark.executor.memory: 4g.",
                },
                "url_env": {
                    "type": "string",
                    "pattern": "^[A-Z_][A-Z0-9_]*$",
                    "default": "HUITOU_PG_URL",
                    "description": "PostgreSQL only: the environment variable holding the connection URL (never the URL itself: it carries the password).",
                },
            },
            "allOf": [
                {
                    "if": {"not": {"properties": {"kind": {"const": "spark"}}, "required": ["kind"]}},
                    "then": {
                        "not": {"anyOf": [{"required": ["master"]}, {"required": ["conf"]}]},
                        "errorMessage": "master and conf are settings of kind spark: remove them, or set kind: spark",
                    },
                },
                {
                    "if": {"not": {"properties": {"kind": {"const": "postgres"}}, "required": ["kind"]}},
                    "then": {
                        "not": {"required": ["url_env"]},
                        "errorMessage": "url_env is a setting of kind postgres: remove it, or set kind: postgres",
                    },
                },
            ],
            "examples": [{"kind": "spark", "master": "local[2]"}, {"kind": "postgres", "url_env": "HUITOU_PG_URL"}],
        },
        "ledger": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"path": {"type": "string", "default": ".huitou/ledger.sqlite"}},
        },
        "delivery": {
            "type": "object",
            "additionalProperties": False,
            "description": "How `huitou send` retries, and how late it may still deliver.",
            "properties": {
                "retry": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "attempts": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": 50,
                            "default": 5,
                            "description": "Attempts in all for a transient failure (SMTP 4xx, HTTP 408/429/5xx, timeouts, lost connections).",
                        },
                        "initial": {
                            "type": "number",
                            "exclusiveMinimum": 0,
                            "default": 2,
                            "description": "Seconds before the first retry; doubled each time, with jitter.",
                        },
                        "max": {
                            "type": "number",
                            "exclusiveMinimum": 0,
                            "default": 300,
                            "description": "Longest wait between attempts, in seconds.",
                        },
                    },
                },
                "expire_after_hours": {
                    "type": "number",
                    "minimum": 0,
                    "default": 24,
                    "description": "A message not delivered this many hours after its planned time is skipped as expired.",
                },
            },
        },
    },
}

root = Path(__file__).resolve().parent.parent / "schemas"
for name, schema in [("playbook.v1.schema.json", playbook), ("project.v1.schema.json", project)]:
    (root / name).write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print("wrote", root / name)
