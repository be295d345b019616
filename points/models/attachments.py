"""Evidence files a resident uploads (a paid fine's receipt, a rectification report)
and the repairs and objections that cite them."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, deferred, mapped_column

from points.infra.db import Base, BigId, UTCDateTime, utcnow

ATTACHMENT_TYPES = ("application/pdf", "image/jpeg", "image/png")


class Attachment(Base):
    """One uploaded file. The bytes are in `content` (the database, the default) or,
    with ATTACHMENT_DIR set, in a file named by `sha256` under that directory
    (`content` NULL). `user_id` is NULL once the account is closed and a case still
    needs the file (points.workflows.attachments.erase_account)."""

    __tablename__ = "attachments"
    __table_args__ = (
        CheckConstraint("content_type IN ('application/pdf', 'image/jpeg', 'image/png')",
                        name="content_type"),
        CheckConstraint("size > 0", name="size"),
        Index("ix_attachments_user", "user_id", "id"),
        Index("ix_attachments_sha256", "sha256"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    # Loaded only when the file is sent, never with a list of attachments.
    content: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AttachmentCitation(Base):
    """An attachment cited by one repair application or one objection, with the
    department deciding that case (who may read the file)."""

    __tablename__ = "attachment_citations"
    __table_args__ = (
        CheckConstraint("(repair_id IS NULL) <> (objection_id IS NULL)", name="one_case"),
        Index("uq_attachment_citations_repair", "repair_id", "attachment_id", unique=True),
        Index("uq_attachment_citations_objection", "objection_id", "attachment_id",
              unique=True),
        Index("ix_attachment_citations_attachment", "attachment_id", "department_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    attachment_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("attachments.id", ondelete="CASCADE"))
    repair_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("repair_applications.id", ondelete="CASCADE"))
    objection_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("objections.id", ondelete="CASCADE"))
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("departments.id"))
    position: Mapped[int] = mapped_column(Integer, default=0)  # the order the resident gave


__all__ = ["ATTACHMENT_TYPES", "Attachment", "AttachmentCitation"]
