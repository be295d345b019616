"""Maintenance over all stored data: verify scores, re-encrypt personal data."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from points.infra.crypto import DataCipher
from points.models import FaceVerification, Score, Subject, User
from points.rules import engine, rule_store
from points.scores import score_cache, scoring

# Every encrypted column: (model, primary key, column names).
ENCRYPTED_COLUMNS = [
    (Subject, Subject.id, ("id_number_enc", "name_enc", "verified_name_enc")),
    (User, User.id, ("name_enc", "phone_enc")),
    (FaceVerification, FaceVerification.id, ("name_enc", "id_number_enc")),
]


@dataclass
class Verification:
    checked: int = 0
    differences: list[str] = field(default_factory=list)


def verify(session_factory: Callable[[], Session], cache: redis.Redis | None,
           today: dt.date) -> Verification:
    """Recompute every stored score from records (with the rule set it records) and
    report any stored or cached score that differs. Changes nothing."""
    result = Verification()
    after = 0
    with session_factory() as session:
        while True:
            rows = session.execute(select(Score).where(Score.subject_id > after)
                                   .order_by(Score.subject_id).limit(1000)).scalars().all()
            if not rows:
                break
            after = rows[-1].subject_id
            facts = scoring.load_facts(session, [r.subject_id for r in rows])
            for stored in rows:
                rule_set = rule_store.by_code(session, stored.rule_set)
                score = engine.compute(facts.get(stored.subject_id, []), rule_set, today)
                expected = (score.points, score.level, score.restricted)
                got = (stored.points, stored.level, stored.restricted)
                if got != expected:
                    result.differences.append(
                        f"subject {stored.subject_id}: stored {got}, records give {expected}")
                cached = score_cache.get(cache, stored.subject_id) if cache is not None else None
                if cached is not None:
                    seen = (cached["points"], cached["level"], cached["restricted"])
                    if seen != expected:
                        result.differences.append(
                            f"subject {stored.subject_id}: cached {seen}, records give {expected}")
                result.checked += 1
            session.expunge_all()
    return result


def rotate_data_key(session_factory: Callable[[], Session], cipher: DataCipher) -> int:
    """Re-encrypt every encrypted column under the newest DATA_KEY, a chunk per
    transaction; older keys keep decrypting until this has run everywhere."""
    rotated = 0
    for model, pk, columns in ENCRYPTED_COLUMNS:
        after = 0
        while True:
            with session_factory() as session, session.begin():
                rows = session.execute(select(pk, *[getattr(model, c) for c in columns])
                                       .where(pk > after).order_by(pk).limit(500)).all()
                if not rows:
                    break
                for row in rows:
                    values = {c: cipher.rotate(v) for c, v in zip(columns, row[1:], strict=True)
                              if v is not None}
                    if values:
                        session.execute(update(model).where(pk == row[0]).values(**values))
                        rotated += 1
                after = rows[-1][0]
    return rotated
