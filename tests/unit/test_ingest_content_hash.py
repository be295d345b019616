"""The content digest is stored with every record and compared with each resend, so
it must stay the digest earlier versions stored: SHA-256 of the canonical JSON."""
from __future__ import annotations

import datetime as dt
import hashlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from points.recordkeeping.ingestion import Checked, content_hash

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=8)
maybe_dates = st.none() | st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 31))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=20), maybe_dates, maybe_dates, maybe_dates,
       st.dictionaries(st.text(max_size=8), json_values, max_size=4), st.text(max_size=64))
def test_digest_is_the_canonical_json_sha256(type_, occurred, decided, ended, details, id_hash):
    checked = Checked(0, "ref", type=type_, details=details,
                      dates={"occurred_on": occurred, "decided_on": decided, "ended_on": ended})
    payload = {"type": type_, "subject": id_hash, "details": details,
               "occurred_on": occurred.isoformat() if occurred else None,
               "decided_on": decided.isoformat() if decided else None,
               "ended_on": ended.isoformat() if ended else None}
    expected = hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False,
                                         default=str).encode()).hexdigest()
    assert content_hash(checked, id_hash) == expected
