"""Credit subjects (natural persons) and the departments that report on them."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from points.infra.db import Base, BigId, JSONType, UTCDateTime, utcnow


class Subject(Base):
    """A natural person known to the credit system by ID number.

    Exists as soon as a department reports on them, before they ever sign in. The
    ID number is stored only encrypted, with a keyed hash for lookup."""

    __tablename__ = "subjects"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    id_number_enc: Mapped[str] = mapped_column(Text)
    # The name departments reported (the first one, or the first after it was cleared).
    name_enc: Mapped[str | None] = mapped_column(Text)
    # The name WeChat's face verification confirmed with the ID number. Records and
    # credit checks are compared with it, else with the reported name; never with a
    # name a resident typed.
    verified_name_enc: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Department(Base):
    """A government department that pushes records and checks credit (X-API-Key)."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    record_types: Mapped[list] = mapped_column(JSONType, default=list)
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_rotated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
