"""huitou in Chinese and Japanese: the catalogs are complete and current, every sentence of
the translated modules is in them, the translations follow the glossary and fill the same
fields, the language is chosen as documented, and the console script speaks it (golden
outputs per language, codes and positions as in English)."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import click
import jsonschema
import pytest
import yaml

from huitou import i18n

from .conftest import EXAMPLES, ROOT, installed_script, update_golden
from .inprocess import huitou

PACKAGE = ROOT / "src" / "huitou"
INVALID = EXAMPLES / "invalid"
GOLDEN = ROOT / "tests" / "golden" / "i18n"


def _catalog_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("catalog_tool", ROOT / "tools" / "catalog.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CATALOG = _catalog_tool()


def test_catalogs_are_current_complete_and_fill_the_same_fields() -> None:
    """tools/catalog.py --check: the template holds every marked sentence, help text and
    schema text; each language translates each one (not fuzzy), with the same `{fields}`;
    the .mo files and the translated schemas are compiled from the .po files."""
    assert CATALOG.problems() == []


def test_a_translation_with_other_fields_is_caught() -> None:
    from babel.messages.catalog import Message

    wrong = Message("unknown channel '{channel}' in {rule}", "{rule} 使用了未知渠道 '{name}'", locations=[("src/huitou/x.py", None)])
    assert CATALOG.message_problems(wrong) == [
        "\"unknown channel '{channel}' in {rule}\": the translation \"{rule} 使用了未知渠道 '{name}'\" fills ['name', 'rule'], not ['channel', 'rule']"
    ]
    assert CATALOG.message_problems(Message("rule '{id}'", "", locations=[("src/huitou/x.py", None)])) == ["no translation of \"rule '{id}'\""]


# --- every sentence of a module is in the catalog -------------------------------------

# A sentence: three words or more, with a space. Every module's sentences are marked for the
# catalog, except what is not said to a user in the chosen language, listed here with the
# module and why: text a file keeps (the plan file's reasons, the ledger's delivery
# errors: English, like the codes beside them), documentation the command line does not
# print, SQL, assertions, names of fonts.
WRITTEN_IN_FILES = {
    "delivery/dispatch.py": "delivery outcomes the ledger records (last_error), shown as recorded",
    "delivery/email.py": "SMTP delivery errors the ledger records (last_error)",
    "delivery/webhook.py": "HTTP delivery errors the ledger records (last_error)",
    "delivery/outbox.py": "outbox errors the ledger records (last_error)",
    "delivery/mime.py": "address errors of one message, recorded in the ledger",
    "plan/render.py": "a plan row's reason_detail, in the plan file",
    "plan/assemble.py": "a plan row's reason_detail, in the plan file",
    "features.py": "the features' descriptions: docs/features.md, not printed",
    "calendar.py": "the anchors' and holidays' descriptions: documentation, not printed",
}
AS_WRITTEN = {
    "schema.py": {"{} does not match {}"},  # jsonschema's own message, replaced before it is shown
    "sandbox.py": {"(markup_join if context.eval_ctx.volatile else str_join)"},  # Jinja's generated code
    "quiet.py": {
        "TCPA, 47 CFR 64.1200(c)(1): no telephone solicitation before 8 a.m. or after 9 p.m. at the called party's location",
        "特定商取引法施行規則 第7条・第23条 and 消費者庁's notice on them: soliciting between 21:00 and 08:00 is 迷惑を覚えさせるような仕方",
        "a quiet window ends within two days",  # an assertion: unreachable
    },
    "errors.py": {"Invalid string encoding found in"},  # DuckDB's words, matched
    "redact.py": {"<a URL that could not be parsed>"},  # put in place of a secret, in any language's line
    "evaluate.py": {
        "features_on brings the orders",  # an assertion
        "order_summary: the per-customer aggregates over the checked orders",  # `huitou compile`'s SQL comments
        "features: one row a customer, from customers and order_summary",
    },
    "plan/build.py": set(),  # `huitou compile`'s SQL comments: checked below as a prefix
    "forecast/fit.py": {"scored after history()"},  # an assertion
    "delivery/ledger.py": {"attempt to write a readonly database", "unable to open"},  # SQLite's words, matched
    "delivery/run.py": {"waiting for retry"},  # OUTCOMES' keys, compared
    "delivery/planfile.py": {"status = 'send' AND channel = coalesce(?, channel)"},  # SQL
    "data/contacts.py": {"not a valid number for ", "not an email address: ", "no country code, and no shop.country to read it with"},
    "engines/base.py": {"engine {} runs no grouped map"},  # NotImplementedError: a bug, not a user's
    "engines/duckdb_engine.py": {"a DuckDB engine takes relations from its own connection"},  # an assertion
    "engines/portable.py": {"regexp_full_match needs a constant pattern to be portable"},  # an assertion
    "exports/__init__.py": {"an export no preset knows (columns matched by name)"},  # the generic preset's title, in huitou.yaml's comment
    "exports/propose.py": {
        "# Proposed by `huitou init --from {}` ({}).\n# Check the status words and the mapping against your shop: docs/exports.md.\n",
        "no platform preset fits: columns matched by name",  # huitou.yaml's comment: the file stays English
    },
    "reporters/charts.py": {
        "Noto Sans CJK SC",
        "Noto Sans CJK JP",
        "Source Han Sans SC",
        "Source Han Sans JP",
        "WenQuanYi Zen Hei",
        "Glyph .* missing from font",
    },
    "reporters/html_report.py": set(),  # the page's HTML and font lists: checked in Chromium (no English label)
}
PAGES = ("reporters/html_report.py", "reporters/plan_html.py", "reporters/diff_html.py")  # checked in Chromium
MODULES = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if str(p.relative_to(PACKAGE)) not in WRITTEN_IN_FILES)
_SENTENCE = re.compile(r"[A-Za-z]{2,}[,;:'-]? [A-Za-z]{2,}[,;:'-]? [A-Za-z]{2,}")
# SQL is not said to a user: a statement, or a fragment with a bind parameter (`:name`) or
# SQL's own words.
_SQL = re.compile(
    r"^\s*(SELECT|WITH|CREATE|INSERT|UPDATE|DELETE|DROP|ALTER|COPY|PRAGMA|SET|ORDER BY|FORMAT)\b"
    r"|(?<![\w.])[:?]\w|\b(CASE WHEN|IS (NOT )?(NULL|DISTINCT)|CAST\(|FILTER \(WHERE|OVER \(|AND NOT|NOT NULL)\b"
)
_NOT_SAID = {"_", "N_", "n_", "compile", "match", "search", "fullmatch", "sub", "startswith", "endswith", "get"}


def unmarked_sentences(source: str) -> list[str]:
    """The sentences of a module's code outside `_`, `N_` and `n_` (and outside
    docstrings, help texts, which the help check covers, and regular expressions)."""
    tree = ast.parse(source)
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            skip.add(id(body[0].value))  # a docstring
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            inside = [*node.args, *node.keywords] if name in _NOT_SAID else [k for k in node.keywords if k.arg == "help"]
            skip |= {id(sub) for part in inside for sub in ast.walk(part)}
        if isinstance(node, ast.JoinedStr):
            skip |= {id(value) for value in node.values}
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        else:
            continue
        if _SENTENCE.search(text) and not _SQL.search(text):
            found.append(text)
    return found


@pytest.mark.parametrize("module", MODULES)
def test_every_sentence_of_a_module_is_marked(module: str) -> None:
    found = set(unmarked_sentences((PACKAGE / module).read_text(encoding="utf-8"))) - AS_WRITTEN.get(module, set())
    if module == "plan/build.py":  # its table of `huitou compile`'s SQL comments
        found = {f for f in found if not re.match(r"^(the |every |for each |copying |computing )", f)}
    if module in PAGES:  # the page's HTML (its words are marked labels) and font lists
        found = {f for f in found if not f.startswith(("<!DOCTYPE html>", "system-ui, "))}
    assert sorted(found) == []


def test_an_unmarked_sentence_is_found() -> None:
    source = 'def f(x):\n    """A docstring is not said."""\n    raise Refused(f"unknown channel {x} in the rule")\n'
    assert unmarked_sentences(source) == ["unknown channel {} in the rule"]
    assert unmarked_sentences('_("unknown channel {x} in the rule", x=1)') == []


def test_every_help_text_is_in_the_catalog() -> None:
    from huitou.cli import app
    from huitou.cli_options import helped

    template = CATALOG.extracted()
    assert [item.help for item in helped(app) if template.get(item.help) is None] == []
    assert len(helped(app)) > 60


# click's words a huitou user never meets (prompts, shell completion, file and UUID types).
NEVER_MET = re.compile(
    r"Shell completion|Bash version|entered|invalid input|UUID|filename|len_type|boolean|param_type|param_name|e\.message|No options defined"
)
CLICK_WORDS = re.compile(
    r"Usage:|Options|Commands|Show this message|Aborted|Error:|Missing|Invalid value|for help|No such|unexpected extra|is not|requires|default:|required|Did you mean"
)


def test_clicks_words_are_in_the_catalog() -> None:
    """Each word of the installed click's help pages and usage errors is one the catalog
    translates (a click that rewords one would leave it English: this says so)."""
    from babel.messages.extract import extract_from_dir

    words = {m for _f, _l, m, _c, _x in extract_from_dir(Path(click.__file__).parent, keywords={"_": None, "ngettext": (1, 2)})}
    shown = {w for w in words if CLICK_WORDS.search(w if isinstance(w, str) else w[0]) and not NEVER_MET.search(str(w))}
    assert len(shown) > 15
    ours = {m if isinstance(m, str) else m[0] for m in CATALOG.CLICK_MESSAGES}  # a plural is looked up by its singular
    assert sorted({w if isinstance(w, str) else w[0] for w in shown} - ours) == []


# --- the glossary ----------------------------------------------------------------------

GLOSSARIES = {"zh_CN": PACKAGE / "locale" / "zh_CN" / "glossary.yaml", "ja": PACKAGE / "locale" / "ja" / "glossary.yaml"}


def _plain_words(text: str) -> str:
    """A sentence without what is not translated: fields, code in backticks, quoted
    values, dotted, snake_case or anchored names, header names (List-Unsubscribe) and
    a command's arguments (CUSTOMER)."""
    text = re.sub(r"\{[^{}]*\}|`[^`]*`|'[^']*'|\"[^\"]*\"", " ", text)
    return re.sub(r"\S*[._/<>&]\S*|\b[A-Z][a-z]+-[A-Z]\w*|\b[A-Z]{2,}\b", " ", text)


@pytest.mark.parametrize("folder", GLOSSARIES)
def test_translations_follow_the_glossary(folder: str) -> None:
    """Each term of the language's glossary is said its one way: a sentence naming the
    English term has the glossary's word in its translation."""
    from babel.messages.pofile import read_po

    glossary = yaml.safe_load(GLOSSARIES[folder].read_text(encoding="utf-8"))
    with (PACKAGE / "locale" / folder / "LC_MESSAGES" / "huitou.po").open("rb") as f:
        catalog = read_po(f)
    strayed = []
    for term in glossary["terms"]:
        english = re.compile(term["pattern"], re.IGNORECASE)
        unless = re.compile(term["unless"], re.IGNORECASE) if term.get("unless") else None
        for message in catalog:
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if not message.id or not english.search(_plain_words(ids[0])) or (unless and unless.search(ids[0])):
                continue
            strayed += [(term["en"], ids[0][:60]) for s in strings if term["says"] not in s]
    assert strayed == []
    assert len(glossary["terms"]) >= 15


def test_the_glossary_check_catches_a_stray_word(tmp_path: Path) -> None:
    assert re.search(r"\bsegments?\b", _plain_words("unknown segment '{name}'"))
    assert not re.search(r"\bsegments?\b", _plain_words("raise channels.{channel}.max_segments"))


# --- choosing the language --------------------------------------------------------------


def test_the_language_is_chosen_in_the_documented_order() -> None:
    env = {"HUITOU_LANG": "ja", "LANG": "zh_CN.UTF-8"}
    assert i18n.choose("zh-CN", env, "en") == "zh-CN"  # --lang first
    assert i18n.choose(None, env, "en") == "ja"  # then HUITOU_LANG
    assert i18n.choose(None, {"LANG": "ja_JP.UTF-8"}, "zh-CN") == "zh-CN"  # then huitou.yaml
    assert i18n.choose(None, {"LANG": "ja_JP.UTF-8", "LC_ALL": "zh_CN.UTF-8"}, None) == "zh-CN"  # LC_ALL over LANG
    assert i18n.choose(None, {"LANG": "de_DE.UTF-8"}, None) == "en"  # a locale huitou does not speak
    assert i18n.choose(None, {"LANG": "zh_TW.UTF-8"}, None) == "en"  # traditional Chinese is not zh-CN
    assert i18n.choose(None, {}, None) == "en"
    with pytest.raises(i18n.UnknownLanguage, match="--lang 'de': huitou speaks en, zh-CN, ja"):
        i18n.choose("de", {}, None)


def test_lang_is_taken_anywhere_before_the_double_dash() -> None:
    assert i18n.for_command(["validate", "--lang", "ja", "rules"], {}) == ("ja", ["validate", "rules"])
    assert i18n.for_command(["--lang=zh-CN", "validate"], {}) == ("zh-CN", ["validate"])
    assert i18n.for_command(["optout", "--", "--lang"], {"HUITOU_LANG": "ja"}) == ("ja", ["optout", "--", "--lang"])


def test_the_projects_language_is_read_from_huitou_yaml(tmp_path: Path) -> None:
    (tmp_path / "huitou.yaml").write_text("version: 1\nlanguage: ja\n", encoding="utf-8")
    (tmp_path / "rules").mkdir()
    ran = huitou("validate", "rules/missing.yaml", cwd=tmp_path, env={"LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"})
    assert ran.returncode == 2
    assert ran.stderr == "huitou validate: そのファイルやディレクトリはありません：rules/missing.yaml\n"
    ran = huitou("validate", "rules/missing.yaml", cwd=tmp_path, env={"LANG": "C.UTF-8", "HUITOU_LANG": "en"})
    assert ran.stderr == "huitou validate: no such file or directory: rules/missing.yaml\n"
    # The language is found in the file's text, not by parsing it: a YAML bomb beside it is
    # the loader's to refuse (HT001, in the language), not the language lookup's to expand.
    bomb = "".join(f"{k}: &{k} [{', '.join([f'*{p}' if p else '1'] * 9)}]\n" for p, k in zip(["", *"abcdefg"], "abcdefgh"))
    (tmp_path / "huitou.yaml").write_text(bomb + "language: 'ja'  # the team's\n", encoding="utf-8")
    ran = huitou("validate", "huitou.yaml", cwd=tmp_path, env={"LANG": "C.UTF-8"})
    assert "HT001 エイリアス（*name）でこの値が 100,000 個を超える値に展開されます" in ran.stdout, ran.stdout + ran.stderr


def test_an_unknown_language_is_one_line_and_exit_2() -> None:
    ran = huitou("--lang", "klingon", "validate", cwd=ROOT)
    assert (ran.returncode, ran.stdout) == (2, "")
    assert ran.stderr == "huitou: --lang 'klingon': huitou speaks en, zh-CN, ja\n"


def test_the_language_is_given_back_after_a_command() -> None:
    import gettext

    assert huitou("--lang", "ja", "validate", "--nope", cwd=ROOT).stderr.startswith("使い方: huitou validate")
    assert i18n.language() == "en"
    assert click.core._ is gettext.gettext  # click's words are its own again
    assert huitou("validate", "--nope", cwd=ROOT).stderr.startswith("Usage:")


# --- the console script, per language -----------------------------------------------------

CASES = sorted(p.relative_to(INVALID) for p in (INVALID / "cases").iterdir() if p.suffix in (".yaml", "") and not p.name.startswith("."))
SPOKEN = {"zh-CN": {"LANG": "zh_CN.UTF-8"}, "ja": {"HUITOU_LANG": ""}}  # ja by --lang


def _console(args: list[str], language: str, cwd: Path) -> str:
    """The console script's transcript in `language`: the command, its exit code, its output."""
    code, out, err = _day_console(args, language, cwd)
    return f"$ huitou {' '.join(args)}\nexit {code}\n{out}{err}"


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if update_golden():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def _places(text: str) -> list[str]:
    return re.findall(r"^(\S+:\d+:\d+): (error|warning) (HT\d+) .* \[([a-z-]+)\]$", text, re.MULTILINE)  # type: ignore[return-value]


@pytest.mark.parametrize("language", SPOKEN)
def test_validate_speaks_the_language(language: str) -> None:
    """The invalid example cases through the console script: the golden output in the
    language, each problem at the place and with the code English gives it, and no
    message left in English."""
    text = _console(["validate", "--format", "text", *map(str, CASES)], language, INVALID)
    english = huitou("validate", "--format", "text", *map(str, CASES), cwd=INVALID, env=_english_env()).stdout
    assert _places(text) == _places(english) and len(_places(english)) > 100
    said = [line for line in text.splitlines()[2:] if not re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", line)]
    assert said == [], "lines left in English"
    _golden(f"validate.{language}.txt", text)


def _english_env() -> dict[str, str]:
    return {**_environment(), "LANG": "C.UTF-8"}


def _environment() -> dict[str, str]:
    """This process's environment without what chooses a language or a format."""
    import os

    return {k: v for k, v in os.environ.items() if k not in ("HUITOU_LANG", "LC_ALL", "LC_MESSAGES", "GITHUB_ACTIONS", "COLUMNS")}


def test_validate_in_english_is_unchanged() -> None:
    """The English golden of the same run (written before the catalogs existed, at
    b821027): English is the code's own words."""
    _golden("validate.en.txt", huitou("validate", "--format", "text", *map(str, CASES), cwd=INVALID, env=_english_env()).stdout)


@pytest.mark.parametrize("language", SPOKEN)
def test_help_speaks_the_language(language: str) -> None:
    text = _console(["--help"], language, ROOT) + _console(["validate", "--help"], language, ROOT)
    for english in ("Usage:", "Options", "Commands", "Show this message and exit.", "Check playbooks, templates"):
        assert english not in text
    _golden(f"help.{language}.txt", text)
    # click's usage error (its wording differs between click versions: no golden)
    mistake = _console(["plan", "--nope"], language, ROOT)
    assert mistake.startswith("$ huitou plan --nope\nexit 2\n" + {"zh-CN": "用法: huitou plan", "ja": "使い方: huitou plan"}[language])
    said = mistake.splitlines()[-1]
    assert "No such option" not in mistake and "--nope" in said and re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", said)


def test_annotations_and_sarif_speak_the_language() -> None:
    case = str(INVALID / "cases" / "unknown-channel.yaml")
    annotations = huitou("--lang", "zh-CN", "validate", "--format", "github", case, cwd=INVALID).stdout
    assert "::error file=" in annotations and "未知渠道" in annotations
    log = json.loads(huitou("--lang", "ja", "validate", "--format", "sarif", case, cwd=INVALID).stdout)
    run = log["runs"][0]
    assert run["language"] == "ja"
    assert run["tool"]["driver"]["rules"][0]["id"] == "HT303"  # rule ids stay
    assert run["tool"]["driver"]["rules"][0]["shortDescription"]["text"] == "設定されていないチャネル。"
    assert "不明なチャネル" in run["results"][0]["message"]["text"]
    problems = json.loads(huitou("--lang", "ja", "validate", "--format", "json", case, cwd=INVALID).stdout)
    assert [(p["code"], p["name"]) for p in problems] == [("HT303", "unknown-channel")]  # codes and names stay


# --- the schemas in each language -------------------------------------------------------------


def _documents() -> list[tuple[str, Path]]:
    kinds = []
    for path in sorted(
        {*ROOT.glob("rules/*.yaml"), *(INVALID / "cases").rglob("*.yaml"), *(EXAMPLES / "valid").rglob("*.yaml"), ROOT / "huitou.yaml"}
    ):
        kind = "project" if path.name == "huitou.yaml" else "test" if path.name.endswith(".test.yaml") else "playbook"
        kinds.append((kind, path))
    return kinds


@pytest.mark.parametrize("tag", ["zh-CN", "ja"])
def test_the_translated_schemas_validate_the_same_documents(tag: str) -> None:
    """Every example and invalid case: the same errors, at the same places, under the
    English schema and the language's (only titles and descriptions differ)."""
    from huitou.schema import SCHEMAS

    checked = 0
    for kind, path in _documents():
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError, ValueError):  # not YAML, or an integer Python refuses
            continue
        results = []
        for folder in (ROOT / "schemas", ROOT / "schemas" / tag):
            schema = json.loads((folder / SCHEMAS[kind]).read_text(encoding="utf-8"))
            errors = jsonschema.Draft7Validator(schema).iter_errors(data)
            results.append(sorted((list(e.absolute_path), e.validator) for e in errors))
        assert results[0] == results[1], path
        checked += 1
    assert checked > 80


@pytest.mark.parametrize("tag", ["zh-CN", "ja"])
def test_the_translated_schemas_say_the_language(tag: str) -> None:
    schema = json.loads((ROOT / "schemas" / tag / "playbook.v1.schema.json").read_text(encoding="utf-8"))
    assert schema["$id"] == f"https://huitou.dev/schemas/{tag}/playbook.v1.schema.json"
    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", schema["description"])
    english = json.loads((ROOT / "schemas" / "playbook.v1.schema.json").read_text(encoding="utf-8"))
    assert english["properties"].keys() == schema["properties"].keys()
    assert english["definitions"]["rule"]["properties"].keys() == schema["definitions"]["rule"]["properties"].keys()


def test_init_writes_the_modeline_of_its_language(tmp_path: Path) -> None:
    huitou("init", str(tmp_path / "shop"), "--locale", "zh-CN", check=True)
    shop = tmp_path / "shop"
    assert (
        (shop / "rules" / "retention.yaml")
        .read_text(encoding="utf-8")
        .startswith("# yaml-language-server: $schema=../schemas/zh-CN/playbook.v1.schema.json")
    )
    assert (shop / "huitou.yaml").read_text(encoding="utf-8").startswith("# yaml-language-server: $schema=schemas/zh-CN/project.v1.schema.json")
    assert json.loads((shop / "schemas" / "zh-CN" / "playbook.v1.schema.json").read_text(encoding="utf-8"))["title"] == "huitou 剧本，版本 1"
    # the CI workflow's annotations, SARIF and diff comment speak the shop's language
    workflow = yaml.safe_load((shop / ".github" / "workflows" / "huitou.yml").read_text(encoding="utf-8"))
    assert workflow["env"] == {"HUITOU_LANG": "zh-CN"}
    settings = json.loads((shop / ".vscode" / "settings.json").read_text(encoding="utf-8"))["yaml.schemas"]
    assert sorted(settings) == ["./schemas/zh-CN/playbook.v1.schema.json", "./schemas/zh-CN/project.v1.schema.json"]
    assert all((shop / path).is_file() for path in settings)
    huitou("init", str(tmp_path / "ja"), "--locale", "ja", check=True)  # the Japanese starter
    shop_ja = tmp_path / "ja"
    assert (
        (shop_ja / "rules" / "retention.yaml")
        .read_text(encoding="utf-8")
        .startswith("# yaml-language-server: $schema=../schemas/ja/playbook.v1.schema.json")
    )
    assert "timezone: Asia/Tokyo" in (shop_ja / "rules" / "retention.yaml").read_text(encoding="utf-8")
    assert yaml.safe_load((shop_ja / ".github" / "workflows" / "huitou.yml").read_text(encoding="utf-8"))["env"] == {"HUITOU_LANG": "ja"}
    for args in (["validate", "--strict"], ["test"]):
        ran = huitou(*args, cwd=shop_ja)
        assert ran.returncode == 0, ran.stdout + ran.stderr
    assert huitou("plan", cwd=shop_ja, env={**_english_env(), "HUITOU_UNSUBSCRIBE_SECRET": "x"}).returncode == 0
    huitou("init", str(tmp_path / "en"), "--locale", "en", check=True)
    assert (
        (tmp_path / "en" / "rules" / "retention.yaml")
        .read_text(encoding="utf-8")
        .startswith("# yaml-language-server: $schema=../schemas/playbook.v1.schema.json")
    )
    ran = huitou("validate", cwd=shop)
    assert ran.returncode == 0, ran.stdout


# --- a shop's day in the language: load report, dry run, live send, report --html, diff ---------


def _day_console(args: list[str], language: str, cwd: Path) -> tuple[int, str, str]:
    """The console script in `language` (zh-CN by the locale, ja by --lang), as a shop runs it."""
    import subprocess

    env = {**_environment(), "LANG": "C.UTF-8", **SPOKEN[language], "HUITOU_UNSUBSCRIBE_SECRET": "test-unsubscribe-secret"}
    flag = ["--lang", "ja"] if language == "ja" else []
    ran = subprocess.run([installed_script("huitou"), *flag, *args], cwd=cwd, env=env, capture_output=True, text=True)
    return ran.returncode, ran.stdout, ran.stderr


def _no_english_sentence(text: str) -> list[str]:
    """Lines holding an English sentence: three English words in a row outside quotes,
    codes and names (what a translation would have said in the language)."""
    left = []
    for line in text.splitlines():
        plain = re.sub(r"'[^']*'|\"[^\"]*\"|\S*[._/:@=\\d]\S*", " ", line)
        if re.search(r"\b[a-z]{3,} [a-z]{3,} [a-z]{3,}\b", plain):
            left.append(line)
    return left


@pytest.mark.parametrize("language", SPOKEN)
def test_a_shops_day_speaks_the_language(language: str, tmp_path: Path) -> None:
    """Through the console script: the load report with quarantined rows, the dry run, a
    live send and the ledger, each a golden in the language, with no English sentence
    left; the same plan file as in English (the files keep their words)."""
    import numpy as np

    from .test_effect import shop

    root = tmp_path / "shop"
    shop(root, np.random.default_rng(7))
    with open(root / "data" / "orders.csv", "a", encoding="utf-8") as handle:  # rows the loader rejects
        handle.write(
            ",C00001,2026-09-01 12:00:00,10.00,paid\r\nP99999-1,C00002,someday,10.00,paid\r\nP99999-2,C00003,2026-09-02 12:00:00,ten,paid\r\n"
        )
    said = []
    code, out, err = _day_console(["plan", "--as-of", "2026-11-01", "--horizon", "7d"], language, root)
    assert code == 0, err
    said.append(f"$ huitou plan --as-of 2026-11-01 --horizon 7d\n{err}{out}")
    code, out, err = _day_console(["plan", "--as-of", "2026-11-01", "--horizon", "7d", "--out", "plan.jsonl"], language, root)
    assert code == 0, err
    english = huitou("plan", "--as-of", "2026-11-01", "--horizon", "7d", "--out", "plan-en.jsonl", cwd=root, env=_english_env())
    assert english.returncode == 0 and (root / "plan.jsonl").read_bytes() == (root / "plan-en.jsonl").read_bytes()
    for args in (
        ["send", "plan.jsonl", "--now", "2026-11-02T00:00", "--until", "2026-11-02"],
        ["send", "plan.jsonl", "--live", "--now", "2026-11-02T00:00", "--until", "2026-11-02"],
        ["ledger"],
    ):
        code, out, err = _day_console(args, language, root)
        assert code == 0, err
        said.append(f"$ huitou {' '.join(args)}\n{out}{err}")
    text = "\n".join(said).replace(str(tmp_path), "TMP")
    text = re.sub(r"（[\d,.]+ (条|通)/秒）", "（RATE）", text)  # the send rate: the machine's, not the language's
    assert _no_english_sentence(text) == []
    assert "rejected" not in text and re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", text)
    _golden(f"day.{language}.txt", text)


@pytest.mark.parametrize("language", SPOKEN)
def test_the_diff_comment_speaks_the_language(language: str, tmp_path: Path) -> None:
    import shutil
    import subprocess

    repo = tmp_path / "shop"
    for folder in ("rules", "templates", "examples"):
        shutil.copytree(ROOT / folder, repo / folder)
    shutil.copy(ROOT / "huitou.yaml", repo / "huitou.yaml")

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.cn", *args], cwd=repo, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-qm", "as shipped")
    playbook = repo / "rules" / "lifecycle.yaml"
    playbook.write_text(playbook.read_text(encoding="utf-8").replace("- {max: 2, per: 7d}", "- {max: 1, per: 7d}", 1), encoding="utf-8")
    git("commit", "-qam", "a tighter cap")
    code, out, err = _day_console(["diff", "HEAD~1", "HEAD", "--as-of", "2026-11-01", "-f", "markdown"], language, repo)
    assert code == 0, err
    assert out.startswith("<!-- huitou-diff -->\n### huitou diff: HEAD\\~1 → HEAD\n")
    assert _no_english_sentence(out) == [] and {"zh-CN": "频次上限", "ja": "配信頻度の上限"}[language] in out  # the reasons in words
    _golden(f"diff.{language}.md", out)


ENGLISH_LABELS = [
    "Repeat purchase and what each rule changed",
    "median purchase cycle",
    "Repeat purchase over time",
    "First-purchase cohorts",
    "What each rule changed",
    "What was sent",
    "repeat purchase by customer",
    "playbook / rule",
    "incr. revenue",
    "95% interval",
    "raised conversion",
    "no evidence of an effect",
    "repeat purchase (%)",
    "bought again (%)",
    "planned messages",
    "treated customers",
    "by transaction",
    "paid orders",
]
CJK_FONT = {"zh-CN": "Noto Sans CJK SC", "ja": "Noto Sans CJK JP"}


@pytest.mark.parametrize("language", SPOKEN)
def test_the_html_report_speaks_the_language_in_chromium(language: str, tmp_path: Path) -> None:
    """`report --html` through the console script, opened in Chromium: the page says its
    language, no English label is left (the sample messages are the shop's own English
    text, left out), and its CJK text is drawn with the CJK font the page names - not
    boxes: Chromium reports the platform font of each glyph (.ci/run installs Noto CJK)."""
    from .browser import CHROMIUM, Browser
    from .test_effect import experiment

    if CHROMIUM is None:
        import os

        assert not os.environ.get("CI"), "chromium is missing: .ci/run should have installed it (apt-get install chromium)"
        pytest.skip("needs chromium (apt-get install chromium)")
    root = tmp_path / "shop"
    experiment(root, 0.10, 7, start="2026-08-01")
    code, _out, err = _day_console(
        ["report", "--from", "2026-08-01", "--to", "2026-11-02", "--as-of", "2026-11-30", "--html", "page.html"], language, root
    )
    assert code == 0, err
    page = root / "page.html"
    browser = Browser(tmp_path / "profile")
    try:
        browser.open(page.as_uri())
        assert browser.problems(page.as_uri()) == []
        assert browser.evaluate("document.documentElement.lang") == language
        text = browser.evaluate(
            "(() => { const b = document.body.cloneNode(true); b.querySelectorAll('.sample').forEach(e => e.remove()); return b.textContent; })()"
        )
        assert [label for label in ENGLISH_LABELS if label in text] == []
        assert _no_english_sentence(text) == []
        assert {"zh-CN": "复购", "ja": "リピート購入"}[language] in text
        # the glyphs of the title and of a chart's label: every one from the named CJK font
        browser.call("DOM.enable", session=True)
        browser.call("CSS.enable", session=True)
        document = browser.call("DOM.getDocument", {"depth": 0}, session=True)["root"]["nodeId"]
        browser.evaluate(
            "[...document.querySelectorAll('figure svg text')].find(t => /[\\u3040-\\u30ff\\u4e00-\\u9fff]/.test(t.textContent)).setAttribute('data-cjk', '')"
        )
        for selector in ("h1", "svg text[data-cjk]"):
            node = browser.call("DOM.querySelector", {"nodeId": document, "selector": selector}, session=True)["nodeId"]
            fonts = browser.call("CSS.getPlatformFontsForNode", {"nodeId": node}, session=True)["fonts"]
            cjk = [f for f in fonts if f["familyName"].startswith("Noto Sans CJK")]
            assert cjk and all(f["familyName"].startswith(("Noto Sans CJK", "DejaVu")) for f in fonts), (selector, fonts)
        assert CJK_FONT[language] in browser.evaluate("getComputedStyle(document.body).fontFamily")
        browser.screenshot(tmp_path / f"report.{language}.png")
        assert (tmp_path / f"report.{language}.png").stat().st_size > 20_000
    finally:
        browser.close()


# --- the marketer's docs in each language ---------------------------------------------------------

TRANSLATED_PAGES = {
    "README.md": "README.md",
    "docs/playbook.md": "playbook.md",
    "docs/cookbook.md": "cookbook.md",
    "docs/checks.md": "checks.md",
    "docs/daily.md": "daily.md",
}


def _outline(text: str) -> tuple[list[int], list[str]]:
    """A page's sections (the level of each heading, outside code) and its code blocks."""
    levels, blocks, fence = [], [], None
    for line in text.splitlines():
        if line.startswith("```"):
            if fence is None:
                fence = [line]
            else:
                blocks.append("\n".join([*fence, line]))
                fence = None
        elif fence is not None:
            fence.append(line)
        elif line.startswith("#"):
            levels.append(len(line) - len(line.lstrip("#")))
    return levels, blocks


def _english_page(source: str) -> str:
    text = (ROOT / source).read_text(encoding="utf-8")
    return text[: text.index("## What works today")] if source == "README.md" else text  # the README's first part


@pytest.mark.parametrize("tag", ["zh-CN", "ja"])
@pytest.mark.parametrize("source", TRANSLATED_PAGES)
def test_a_translated_page_keeps_step_with_the_english(source: str, tag: str) -> None:
    """docs/<tag>/ has the page, with the English one's sections (heading by heading, at
    the same levels) and code blocks (the same text), in the language, its links going
    somewhere: a change to the English page that the translation lacks fails here."""
    page = ROOT / "docs" / tag / TRANSLATED_PAGES[source]
    text = page.read_text(encoding="utf-8")
    assert _outline(text) == _outline(_english_page(source))
    prose = "\n".join(line for line in re.sub(r"```.*?```", "", text, flags=re.S).splitlines() if not line.startswith("|"))
    assert _no_english_sentence(prose) == []
    assert len(re.findall(r"[\u3040-\u30ff\u4e00-\u9fff]", prose)) > len(prose) / 8
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        assert target.startswith("http") or (page.parent / target).exists(), target


def test_the_page_check_sees_a_missing_section() -> None:
    english = "# A\n\ntext\n\n## B\n\n```\ncode\n```\n"
    assert _outline("# 甲\n\n文字\n\n```\ncode\n```\n") != _outline(english)
    assert _outline("# 甲\n\n文字\n\n## 乙\n\n```\ncode\n```\n") == _outline(english)


def test_the_english_wording_the_catalogs_improved(tmp_path: Path) -> None:
    """Where marking the sentences changed the English, it is for the better, and said
    here: a document that is text is "text" (was "a str"), a value of a several-typed key
    names each type in words (was "a string or number or boolean or null")."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "a.yaml").write_text("just a line of text\n", encoding="utf-8")
    (tmp_path / "rules" / "a.test.yaml").write_text(
        "version: 1\ntests:\n  - name: t\n    as_of: '2026-11-02'\n    given: {customers: [{customer_id: [1, 2]}]}\n    expect: []\n",
        encoding="utf-8",
    )
    out = huitou("validate", "rules", cwd=tmp_path, env=_english_env()).stdout
    assert "HT005 the playbook is text, not a mapping" in out, out
    assert "must be text or a number or true or false or empty, not a list" in out, out
