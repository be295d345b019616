"""The words for the states things are in — a repair application `approved`, a record
`revoked`, a merchant `suspended` — as people read them inside a sentence, in the
reader's language (points.i18n): `status_word("approved")` is 已通过 in Chinese and
"approved" in English. The states stay codes in the API's fields; only messages use
these words. A state without a word here is given as it is."""
from __future__ import annotations

from points.i18n import N_, gettext

STATUS_WORDS = {
    "submitted": N_("submitted"), "pending": N_("pending"), "approved": N_("approved"),
    "rejected": N_("rejected"), "withdrawn": N_("withdrawn"), "upheld": N_("upheld"),
    "active": N_("active"), "disputed": N_("disputed"), "repaired": N_("repaired"),
    "ended": N_("ended"), "revoked": N_("revoked"), "expired": N_("expired"),
    "fulfilled": N_("fulfilled"), "breached": N_("breached"), "suspended": N_("suspended"),
    "confirmed": N_("confirmed"),
}


def status_word(status: str | None) -> str:
    """The state `status` as a word of the current language."""
    return gettext(STATUS_WORDS[status]) if status in STATUS_WORDS else (status or "")
