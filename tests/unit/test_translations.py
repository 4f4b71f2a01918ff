"""The Simplified Chinese catalogue: complete, faithful to its placeholders, compiled, and served.

The .po is parsed here with the standard library (polib is not a dependency), so these tests read
exactly the text that `compilemessages` reads.
"""

from __future__ import annotations

import ast
import gettext
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import translation

from recordings import choices
from tests import factories

CATALOGUE_DIR = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES"
PO_PATH = CATALOGUE_DIR / "django.po"
MO_PATH = CATALOGUE_DIR / "django.mo"
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-Hans"}

# %(name)s, %s, %d ... as Python's %-formatting reads them; "%%" is a literal percent sign.
PERCENT_PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")
BRACE_PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")


@dataclass
class Entry:
    line: int
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False


def parse_po(text: str) -> list[Entry]:
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped:
            if current is not None:
                entries.append(current)
            current, target = None, None
            continue
        if current is None:
            current = Entry(line=number)
        if stripped.startswith("#~"):
            current.obsolete = True
        elif stripped.startswith("#,"):
            current.flags.update(flag.strip() for flag in stripped[2:].split(",") if flag.strip())
        elif stripped.startswith("#"):
            continue
        elif match := re.match(r"^(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d+)\])?\s+(\".*\")$", stripped):
            keyword, index, literal = match.groups()
            value = ast.literal_eval(literal)
            if keyword == "msgstr":
                target = ("msgstr", int(index or 0))
                current.msgstr[target[1]] = value
            else:
                target = (keyword, 0)
                setattr(current, keyword, value)
        elif stripped.startswith('"') and target is not None:
            value = ast.literal_eval(stripped)
            if target[0] == "msgstr":
                current.msgstr[target[1]] += value
            else:
                setattr(current, target[0], getattr(current, target[0]) + value)
        else:
            raise AssertionError(f"django.po:{number}: cannot read {line!r}")
    if current is not None:
        entries.append(current)
    return entries


@pytest.fixture(scope="module")
def po_entries() -> list[Entry]:
    return parse_po(PO_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def messages(po_entries) -> list[Entry]:
    return [entry for entry in po_entries if entry.msgid and not entry.obsolete]


def test_the_catalogue_declares_chinese_with_one_plural_form(po_entries):
    header = next(entry for entry in po_entries if entry.msgid == "")
    assert "fuzzy" not in header.flags
    assert "Content-Type: text/plain; charset=UTF-8" in header.msgstr[0]
    assert "Plural-Forms: nplurals=1; plural=0;" in header.msgstr[0]


def test_every_entry_is_translated_and_none_is_fuzzy(messages):
    assert len(messages) > 400  # the parser found the catalogue, not an empty file
    untranslated = [
        e.msgid for e in messages if not all(s.strip() for s in e.msgstr.values()) or not e.msgstr
    ]
    fuzzy = [e.msgid for e in messages if "fuzzy" in e.flags]
    assert untranslated == []
    assert fuzzy == []


def test_plural_entries_have_exactly_one_form(messages):
    plurals = [entry for entry in messages if entry.msgid_plural is not None]
    assert plurals, "the templates count things with blocktranslate; their entries must be here"
    assert [e.msgid for e in plurals if sorted(e.msgstr) != [0]] == []


def _placeholders(text: str, entry: Entry) -> Counter:
    found = Counter(PERCENT_PLACEHOLDER.findall(text))
    if "python-brace-format" in entry.flags:
        found.update(BRACE_PLACEHOLDER.findall(text))
    return found


def test_every_translation_keeps_the_placeholders_of_its_msgid(messages):
    broken = []
    for entry in messages:
        # In Chinese one form stands for both English ones; it must fit the plural's placeholders.
        expected = _placeholders(entry.msgid_plural or entry.msgid, entry)
        for index, translated in entry.msgstr.items():
            if _placeholders(translated, entry) != expected:
                broken.append((entry.line, entry.msgid, index, translated))
    assert broken == []


def test_the_placeholder_check_notices_a_lost_placeholder():
    entry = Entry(line=1, msgid="Saved room %(title)s.", msgstr={0: "已保存房间。"}, flags={"python-format"})
    assert _placeholders(entry.msgstr[0], entry) != _placeholders(entry.msgid, entry)


def test_the_compiled_catalogue_matches_the_po(messages):
    with MO_PATH.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = []
    for entry in messages:
        key = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if entry.msgid_plural is None:
            got = compiled._catalog.get(key)
        else:
            got = compiled._catalog.get((key, 0))
        if got != entry.msgstr[0]:
            stale.append(entry.msgid)
    assert stale == [], "run `manage.py compilemessages` and commit the .mo"


def test_every_choice_label_has_a_translation(messages):
    known = {entry.msgid for entry in messages}
    missing = []
    for value in vars(choices).values():
        if (
            isinstance(value, type)
            and issubclass(value, models.Choices)
            and value.__module__ == choices.__name__
        ):
            with translation.override("en"):
                english = [str(label) for label in value.labels]
            missing += [f"{value.__name__}: {label}" for label in english if label not in known]
    assert missing == []


def test_translations_are_active_for_chinese():
    with translation.override("zh-hans"):
        assert str(choices.ObservedState.PAUSED.label) == "已暂停"
        assert translation.gettext("Sign in") == "登录"
    with translation.override("en"):
        assert translation.gettext("Sign in") == "Sign in"


@pytest.mark.django_db
def test_the_login_page_speaks_the_browsers_language(client):
    chinese = client.get(reverse("login"), **ZH).content.decode()
    english = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'lang="zh-hans"' in chinese
    assert "登录" in chinese and "Sign in" not in chinese
    assert "Sign in" in english and "登录" not in english


@pytest.mark.django_db
def test_signed_in_pages_are_in_chinese(client):
    client.force_login(factories.user("zh-admin", "Admin"))
    home = client.get(reverse("home"), **ZH).content.decode()
    assert "开始录制" in home and "Start a recording" not in home
    apps = client.get(reverse("app_list"), **ZH).content.decode()
    assert "供应商应用" in apps and "Vendor apps" not in apps


@pytest.mark.django_db
def test_the_demo_logins_name_their_roles_in_chinese(client, settings):
    settings.PRODUCTION = False
    factories.user("teacher", "Teacher")
    page = client.get(reverse("login"), **ZH).content.decode()
    assert "<code>teacher</code> — 教师" in page
