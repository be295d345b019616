"""points/i18n.py: messages in the current language, Chinese unless English is asked for."""
from __future__ import annotations

import pytest

from api.locale import negotiate
from points import i18n
from points.i18n import gettext, translate_text, translate_tree, use_locale

# Messages of the catalog with and without fields (tests/unit/test_i18n_catalog.py checks
# that every message of the code has its translation).
PLAIN = "sign in first"


def _with_fields() -> str:
    return next(msgid for msgid in i18n.catalog("zh") if i18n.placeholders(msgid))


def test_the_default_language_is_chinese():
    assert i18n.current_locale() == "zh"
    assert gettext(PLAIN) == i18n.catalog("zh")[PLAIN]
    assert gettext(PLAIN) != PLAIN


def test_english_is_the_message_itself():
    with use_locale("en"):
        assert gettext(PLAIN) == PLAIN
    assert i18n.current_locale() == "zh"


def test_an_unknown_language_means_chinese():
    with use_locale("fr"):
        assert i18n.current_locale() == "zh"


def test_fields_are_filled_in_both_languages():
    msgid = _with_fields()
    params = {name: f"<{name}>" for name in i18n.placeholders(msgid)}
    chinese = gettext(msgid, **params)
    with use_locale("en"):
        english = gettext(msgid, **params)
    assert english == msgid.format(**params)
    assert chinese != english
    for value in params.values():
        assert value in chinese


def test_a_message_not_in_the_catalog_is_shown_as_written():
    assert gettext("no such message {x}", x=1) == "no such message 1"


def test_translate_text_finds_the_message_a_text_was_made_from():
    msgid = _with_fields()
    params = {name: f"value {index}" for index, name in enumerate(sorted(i18n.placeholders(msgid)))}
    english = msgid.format(**params)
    assert translate_text(english) == gettext(msgid, **params)
    assert translate_text(PLAIN) == gettext(PLAIN)
    with use_locale("en"):
        assert translate_text(english) == english
    assert translate_text("a text no message made") == "a text no message made"


def test_a_message_of_fields_and_punctuation_is_no_pattern_for_other_texts():
    """"{check}: {result}" is a message of the report: translate_text must not take any
    text with a colon in it for one of its outputs."""
    assert gettext("{check}: {result}", check="a", result="b") == "a：b"
    for text in ("需要访问令牌（Authorization: Bearer …），请先登录", "note: see (annex)",
                 "已补正 (见附件)"):
        assert translate_text(text) == text


def test_translate_tree_translates_every_text_and_keeps_the_shape():
    tree = {"json": {"a": [PLAIN, "other"], "b": {"c": [PLAIN]}}, "n": 3}
    assert translate_tree(tree) == {"json": {"a": [gettext(PLAIN), "other"],
                                             "b": {"c": [gettext(PLAIN)]}}, "n": 3}


@pytest.mark.parametrize(("header", "locale"), [
    (None, "zh"), ("", "zh"), ("zh-CN", "zh"), ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
    ("en", "en"), ("en-US,en;q=0.9", "en"), ("EN", "en"), ("fr", "zh"), ("*", "zh"),
    ("en;q=0.5,zh;q=0.9", "zh"), ("fr, en-GB;q=0.8", "en"), (";;;q=x", "zh"),
])
def test_accept_language_chooses_the_locale(header, locale):
    assert negotiate(header) == locale


def test_wechat_notices_are_chinese_whatever_the_request_asked_for():
    """A department deciding in English still notifies the resident in Chinese (the
    subscription templates are zh_CN)."""
    import datetime as dt

    from points.infra import outbox

    with use_locale("en"):
        data = outbox.message_data(i18n.N_("credit repair application"), i18n.N_("approved"),
                                   dt.date(2026, 12, 3), "金额有误")
    assert data == {"thing1": "信用修复申请", "phrase2": "已通过", "date3": "2026-12-03",
                    "thing4": "金额有误"}
