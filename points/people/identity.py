"""Chinese resident ID numbers (GB 11643) and masking of personal data."""
from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata

from stdnum.cn import ric

from points.i18n import N_
from points.infra.db import today

ADULT_AGE = 18
# The separator of minority names (维吾尔族, 藏族 …: 阿依古丽·买买提) is written with
# many look-alike characters; after NFKC they are all one. The full stop is among them
# because many systems cannot type a middle dot and use "." instead.
NAME_DOTS = "\u00b7\u0387\u16eb\u2022\u2027\u2219\u22c5\u2e31\u30fb\uff65\u318d.\u3002\uff0e"
_DOTS = re.compile(f"[{re.escape(NAME_DOTS)}]")


@functools.lru_cache(maxsize=16384)
def normalise_id_number(value: str) -> str:
    """Return the canonical 18-character form or raise ValueError with a reason.

    python-stdnum computes the birth date and the check digit. Its full
    `validate` also insists on a birth-place code from its table; a code that has
    since been retired (or did not exist in the birth year) is no reason to refuse
    a real person, so the place is deliberately not checked here.

    Memoised: a department's batch names the same people again and again, and a
    number valid once stays valid (a refusal, which may depend on today's date, is
    an exception and never cached).
    """
    number = _compact(value or "")
    if len(number) != 18:
        raise ValueError(N_("an ID number has 18 characters"))
    if not number[:-1].isdigit() or number[-1] not in "0123456789X":
        raise ValueError(N_("an ID number has 17 digits and a check digit (0-9 or X)"))
    # ric.get_birth_date's own arithmetic, on the number compacted once above
    year, month, day = int(number[6:10]), int(number[10:12]), int(number[12:14])
    try:
        born = dt.date(year, month, day)
    except ValueError as exc:
        raise ValueError(N_("the birth date is not a real date")) from exc
    if born > today():  # Asia/Shanghai's date, whatever the server's zone
        raise ValueError(N_("the birth date is in the future"))
    if ric.calc_check_digit(number) != number[-1]:
        raise ValueError(N_("the check digit is wrong"))
    return number


def _compact(value: str) -> str:
    """`ric.compact`, without its per-character Unicode clean-up for the plain ASCII
    letters and digits nearly every number arrives as (for those it is upper())."""
    if value.isascii() and value.isalnum():
        return value.upper()
    return ric.compact(value)


def birth_date(number: str) -> dt.date:
    return ric.get_birth_date(number)


def age_on(number: str, on: dt.date) -> int:
    born = birth_date(number)
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def is_adult(number: str, on: dt.date) -> bool:
    return age_on(number, on) >= ADULT_AGE


def mask_id_number(number: str) -> str:
    """4301**********123X: the region prefix and the last four stay visible."""
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def mask_name(name: str) -> str:
    """张* / 张*三: the family name (and the last character of long names)."""
    name = name.strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "*" * len(phone)


@functools.lru_cache(maxsize=16384)
def normalise_name(name: str) -> str:
    """A name as it is compared: NFKC (fullwidth letters, compatibility forms), every
    space and invisible formatting character removed, every variant of the middle dot
    made "·", and case folded (names in Latin letters). Display names are not changed;
    this is only ever used to decide whether two names are the same person's."""
    text = unicodedata.normalize("NFKC", name or "")
    text = "".join(ch for ch in text if not ch.isspace() and unicodedata.category(ch) != "Cf")
    return _DOTS.sub("\u00b7", text).casefold()


def same_name(a: str | None, b: str | None) -> bool:
    """Whether two names are the same name: the one comparison used wherever a name
    given by someone is checked against the name the system holds."""
    return a is not None and b is not None and normalise_name(a) == normalise_name(b)
