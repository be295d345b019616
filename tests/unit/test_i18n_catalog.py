"""The message catalogs are complete and fresh: every message the code marks (gettext,
N_) has a Chinese translation with the same fields, nothing else is in the catalog, no
entry is fuzzy or twice there (a union merge of two branches can do that), and the
compiled catalog the app reads is the one the .po says (`make install` compiles it)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from points import i18n

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("api", "points", "incentives")
KEYWORDS = {"gettext": None, "N_": None}
# As babel.cfg: the code, and the templates that call gettext("…") (the report page).
METHODS = [("**.py", "python"), ("templates/report/*.html", "jinja2.ext:babel_extract")]
TRANSLATED = [locale for locale in i18n.LOCALES if locale != i18n.SOURCE_LOCALE]


def _code_messages() -> set[str]:
    found = set()
    for folder in SOURCES:
        for _file, _line, message, _comments, _context in extract_from_dir(
                ROOT / folder, method_map=METHODS, keywords=KEYWORDS):
            found.add(message if isinstance(message, str) else message[0])
    return found


def _po_path(locale: str) -> Path:
    return i18n.TRANSLATIONS / locale / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"


def _po(locale: str):
    with _po_path(locale).open("rb") as file:
        return read_po(file, locale=locale)


def test_the_code_has_messages():
    assert len(_code_messages()) > 5


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_message_of_the_code_is_translated(locale):
    catalog = _po(locale)
    missing = sorted(m for m in _code_messages()
                     if m not in catalog or not catalog[m].string)
    assert not missing, (f"{len(missing)} messages have no {locale} translation: run "
                         f"`make messages` and translate them in {_po_path(locale)}: {missing}")


@pytest.mark.parametrize("locale", TRANSLATED)
def test_the_catalog_holds_only_messages_of_the_code(locale):
    in_code = _code_messages()
    stale = sorted(m.id for m in _po(locale) if m.id and m.id not in in_code)
    assert not stale, f"no longer in the code (run `make messages`): {stale}"


@pytest.mark.parametrize("locale", TRANSLATED)
def test_translations_differ_keep_their_fields_and_are_not_fuzzy(locale):
    problems = []
    for message in _po(locale):
        if not message.id:
            continue
        if message.fuzzy:
            problems.append(f"fuzzy (review it, then remove the flag): {message.id!r}")
        if message.string and message.string == message.id:
            problems.append(f"not translated: {message.id!r}")
        if message.string and i18n.placeholders(message.string) != i18n.placeholders(message.id):
            problems.append(f"fields differ: {message.id!r} → {message.string!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("locale", TRANSLATED)
def test_no_message_is_twice_in_the_catalog(locale):
    text = _po_path(locale).read_text(encoding="utf-8")
    ids = re.findall(r'^msgid "(.*)"$', text, re.MULTILINE)
    twice = sorted({m for m in ids if ids.count(m) > 1})
    assert not twice, f"in the catalog twice (after a merge?): {twice}"


@pytest.mark.parametrize("locale", TRANSLATED)
def test_the_compiled_catalog_is_the_po(locale):
    mo = i18n.TRANSLATIONS / locale / "LC_MESSAGES" / f"{i18n.DOMAIN}.mo"
    with mo.open("rb") as file:
        compiled = {m.id: m.string for m in read_mo(file) if m.id}
    source = {m.id: m.string for m in _po(locale) if m.id and m.string}
    assert compiled == source, f"{mo} is stale: run `make install`"
