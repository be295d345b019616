"""Text people read, in their language: Chinese unless they ask for English.

Messages are written in the code in English, with named parameters in braces, and
translated through the Babel message catalog `points/translations/zh/LC_MESSAGES/
messages.po` (compiled to `messages.mo` by `make install`; see docs/i18n.md):

    raise NotFound(gettext("no record {source_ref} from this department",
                           source_ref=source_ref), "RECORD_NOT_FOUND")

English needs no catalog: the message id is the English text. The language is a
context variable: the web app sets it per request from `Accept-Language`
(`api/locale.py`), anything else (jobs, the CLI, WeChat notices) speaks Chinese
unless it says otherwise with `use_locale`.

Texts that were written in English before they reach a reader — marshmallow's
field messages, score-history reasons stored in the database — are translated as
they are shown, by `translate_text`: a text that is a message id, or that a message
id with parameters produced, is given in the reader's language.
"""
from __future__ import annotations

import contextlib
import functools
import re
import string
from collections.abc import Iterator, Mapping
from contextvars import ContextVar, Token
from pathlib import Path
from typing import Any

from babel.messages.mofile import read_mo

LOCALES = ("zh", "en")
DEFAULT_LOCALE = "zh"
# English is the language of the message ids: it has no catalog.
SOURCE_LOCALE = "en"
DOMAIN = "messages"
TRANSLATIONS = Path(__file__).with_name("translations")

_locale: ContextVar[str] = ContextVar("locale", default=DEFAULT_LOCALE)


class CatalogMissing(RuntimeError):
    """A compiled catalog is not there: the build did not compile it."""


def current_locale() -> str:
    return _locale.get()


def set_locale(locale: str | None) -> Token:
    """Speak `locale` (a code of LOCALES; anything else means the default) until reset."""
    return _locale.set(locale if locale in LOCALES else DEFAULT_LOCALE)


def reset_locale(token: Token) -> None:
    _locale.reset(token)


@contextlib.contextmanager
def use_locale(locale: str | None) -> Iterator[None]:
    token = set_locale(locale)
    try:
        yield
    finally:
        reset_locale(token)


def N_(msgid: str) -> str:
    """Marks a text for the catalog without translating it (a constant defined at import
    time); translate it where it is shown, with `gettext(CONSTANT)` or `translate_text`."""
    return msgid


def gettext(msgid: str, /, **params: Any) -> str:
    """`msgid` in the current language, its `{name}` fields filled from `params`."""
    translated = catalog(current_locale()).get(msgid) or msgid
    return _fill(translated, msgid, params)


def translate_text(text: str) -> str:
    """An English text in the current language: a message id itself, or a text that a
    message id with parameters produced (the parameters are kept, translated when they
    are message ids themselves). Any other text is given back as it is."""
    locale = current_locale()
    if locale == SOURCE_LOCALE or not isinstance(text, str) or not text:
        return text
    messages = catalog(locale)
    exact = messages.get(text)
    if exact:
        return exact
    for pattern, msgid in _templates(locale):
        match = pattern.fullmatch(text)
        if match:
            # A parameter may itself be a message, or be made from one (a revocation's
            # reason inside a history reason): shorter each time, so this ends.
            params = {name: translate_text(value) for name, value in match.groupdict().items()}
            return _fill(messages[msgid], msgid, params)
    return text


def translate_tree(value: Any) -> Any:
    """`translate_text` over every text in nested dicts and lists (field error messages)."""
    if isinstance(value, str):
        return translate_text(value)
    if isinstance(value, Mapping):
        return {key: translate_tree(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [translate_tree(item) for item in value]
    return value


def check_catalogs() -> None:
    """Raise CatalogMissing unless every language's compiled catalog can be read (the web
    app calls it when it starts, so a build that did not compile fails at once)."""
    for locale in LOCALES:
        catalog(locale)


@functools.cache
def catalog(locale: str) -> dict[str, str]:
    """The translated messages of `locale`, read from its compiled catalog."""
    if locale == SOURCE_LOCALE:
        return {}
    path = TRANSLATIONS / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"
    try:
        with path.open("rb") as file:
            compiled = read_mo(file)
    except FileNotFoundError:
        raise CatalogMissing(f"{path} is missing: compile the catalogs with `make install` "
                             "(pybabel compile -d points/translations)") from None
    return {message.id: message.string for message in compiled
            if message.id and isinstance(message.id, str) and message.string}


def placeholders(text: str) -> set[str]:
    """The names of the `{name}` fields of a message."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


@functools.cache
def _templates(locale: str) -> list[tuple[re.Pattern, str]]:
    """A pattern for each message id with fields, the most literal text first (so that the
    most specific message wins); ids that are nothing but fields and punctuation
    ("{check}: {result}", "{level} ({title})") would match almost any text and are left
    out: they are only ever translated by `gettext`."""
    patterns = []
    for msgid in catalog(locale):
        parts = list(string.Formatter().parse(msgid))
        literal = sum(len(text) for text, *_ in parts)
        if (not any(name is not None for _, name, _, _ in parts)
                or not any(char.isalpha() for text, *_ in parts for char in text)):
            continue
        regex, seen = [], set()
        for text, name, _, conversion in parts:
            regex.append(re.escape(text))
            if name is None:
                continue
            if not name.isidentifier():
                break
            field = f"(?P={name})" if name in seen else f"(?P<{name}>.+?)"
            # {name!r} shows a text in quotes: the parameter is what is inside them.
            regex.append(f"'{field}'" if conversion == "r" else field)
            seen.add(name)
        else:
            patterns.append((literal, re.compile("".join(regex), re.DOTALL), msgid))
    patterns.sort(key=lambda item: -item[0])
    return [(pattern, msgid) for _, pattern, msgid in patterns]


def _fill(text: str, msgid: str, params: Mapping[str, Any]) -> str:
    if not params:
        return text
    try:
        return text.format_map(params)
    except (KeyError, IndexError, ValueError):  # a translation with wrong fields: the source
        return msgid.format_map(params)
