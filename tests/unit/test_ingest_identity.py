"""ID-number normalisation as ingestion uses it: the fast path and the memo must
answer exactly what python-stdnum's own functions answered."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from hypothesis import example, given, settings
from hypothesis import strategies as st
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from points.people.identity import normalise_id_number
from tests.builders.residents import valid_id


def reference(value: str) -> str:
    """normalise_id_number as it was written on stdnum's compact/get_birth_date."""
    number = ric.compact(value or "")
    if len(number) != 18:
        raise ValueError("an ID number has 18 characters")
    if not number[:-1].isdigit() or number[-1] not in "0123456789X":
        raise ValueError("an ID number has 17 digits and a check digit (0-9 or X)")
    try:
        born = ric.get_birth_date(number)
    except ValidationError as exc:
        raise ValueError("the birth date is not a real date") from exc
    if born > dt.date.today():
        raise ValueError("the birth date is in the future")
    if ric.calc_check_digit(number) != number[-1]:
        raise ValueError("the check digit is wrong")
    return number


def outcome(function, value: str) -> tuple[str, str]:
    try:
        return "ok", function(value)
    except ValueError as exc:
        return "refused", str(exc)


# Digits, the check letter either case, separators and the Unicode look-alikes
# stdnum folds (full-width digits, ideographic space, dashes), and a superscript
# digit that str.isdigit accepts but int() does not.
ALPHABET = "0123456789Xx -\u3000０１９–\u00b2a"
numbers = st.one_of(
    st.text(alphabet=ALPHABET, max_size=22),
    st.builds(valid_id, birth=st.dates(dt.date(1900, 1, 1), dt.date(2030, 12, 31)).map(
        lambda d: d.strftime("%Y%m%d")), seq=st.integers(0, 999)),
)


@settings(max_examples=400, deadline=None)
@given(numbers)
@example(valid_id().lower())
@example(" " + valid_id() + " ")
@example(valid_id().translate(str.maketrans("0123456789", "０１２３４５６７８９")))
@example(valid_id(birth="19900231"))
@example(valid_id()[:-1] + ("0" if valid_id()[-1] != "0" else "1"))
@example("43010419\u00b20010112X")
def test_same_answer_as_stdnum(value):
    assert outcome(normalise_id_number, value) == outcome(reference, value)
    # asked again (now from the memo when it was accepted): the same answer
    assert outcome(normalise_id_number, value) == outcome(reference, value)


def test_a_refusal_is_not_remembered():
    """Born 'tomorrow' is refused today and accepted once that day has come: the
    memo must hold only accepted numbers, whose answer never changes."""
    number = valid_id(birth="20261201", seq=987)
    with (time_machine.travel(dt.datetime(2026, 11, 30, 12), tick=False),
          pytest.raises(ValueError, match="in the future")):
        normalise_id_number(number)
    with time_machine.travel(dt.datetime(2026, 12, 2, 12), tick=False):
        assert normalise_id_number(number) == number


def test_a_birth_date_is_judged_by_the_date_in_shanghai(monkeypatch):
    """At 04:00 on 1 December in Shanghai (20:00 UTC the day before), someone born on
    1 December is born today, not in the future, on a server keeping UTC."""
    import time

    monkeypatch.setenv("TZ", "UTC")  # the server's own zone, which must not matter
    time.tzset()
    try:
        number = valid_id(birth="20261201", seq=9)
        with time_machine.travel(dt.datetime(2026, 11, 30, 20, tzinfo=dt.UTC), tick=False):
            assert normalise_id_number(number) == number
        with time_machine.travel(dt.datetime(2026, 11, 30, 15, tzinfo=dt.UTC), tick=False), \
                pytest.raises(ValueError, match="future"):
            normalise_id_number(valid_id(birth="20261201", seq=10))
    finally:
        monkeypatch.undo()
        time.tzset()
