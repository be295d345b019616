"""Credit subjects: found or created by ID number, concurrency-safe."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from points.infra.crypto import DataCipher
from points.infra.db import dialect_insert, utcnow
from points.models import Subject
from points.people.identity import mask_name


def find_subject(session: Session, cipher: DataCipher, id_number: str) -> Subject | None:
    return session.execute(
        select(Subject).where(Subject.id_hash == cipher.lookup_hash(id_number))
    ).scalar_one_or_none()


def reference_name(cipher: DataCipher, subject: Subject) -> str | None:
    """The name a department's data about this person is compared with: the name face
    verification confirmed, else the name departments reported. Never a typed name."""
    name_enc = subject.verified_name_enc or subject.name_enc
    return cipher.decrypt(name_enc) if name_enc else None


def masked_names(session: Session, cipher: DataCipher, subject_ids: Iterable[int]
                 ) -> dict[int, str]:
    """Each subject's masked name (张*), for the departments' and staff's lists: the
    reference name (`reference_name`), or * when there is none."""
    ids = sorted(set(subject_ids))
    if not ids:
        return {}
    rows = session.execute(select(
        Subject.id, func.coalesce(Subject.verified_name_enc, Subject.name_enc)
    ).where(Subject.id.in_(ids)))
    return {sid: mask_name(cipher.decrypt(enc)) if enc else "*" for sid, enc in rows}


def get_or_create_subject(session: Session, cipher: DataCipher, id_number: str,
                          name: str | None = None) -> Subject:
    """The subject of this ID number, created if no one has reported it yet.

    INSERT … ON CONFLICT DO NOTHING makes two requests creating the same person at
    once both end with the one row, instead of one failing on the unique hash."""
    id_hash = cipher.lookup_hash(id_number)
    subject = session.execute(select(Subject).where(Subject.id_hash == id_hash)).scalar_one_or_none()
    if subject is not None:
        return subject
    values = {
        "id_hash": id_hash,
        "id_number_enc": cipher.encrypt(id_number),
        "name_enc": cipher.encrypt(name) if name else None,
        "created_at": utcnow(),
    }
    session.execute(dialect_insert(session, Subject).values(**values).on_conflict_do_nothing(
        index_elements=["id_hash"]))
    return session.execute(select(Subject).where(Subject.id_hash == id_hash)).scalar_one()
