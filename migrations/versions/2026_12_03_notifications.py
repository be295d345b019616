"""Notifications: every notice told to a person, paged newest first.

Revision ID: 2026_12_03_notifications
Revises: 2026_12_03_record_statements
"""
import sqlalchemy as sa
from alembic import op

from points.infra.db import BigId, JSONType, UTCDateTime

revision = "2026_12_03_notifications"
down_revision = "2026_12_03_record_statements"
branch_labels = None
depends_on = None

TIME = UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=True),
        sa.Column("subject_id", BigId, nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("params", JSONType, nullable=False),
        sa.Column("ref_type", sa.String(length=32), nullable=True),
        sa.Column("ref_id", sa.BigInteger(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=120), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("read_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_notifications_user_id_users")),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"],
                                name=op.f("fk_notifications_subject_id_subjects")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notifications_dedupe_key")),
    )
    op.create_index("ix_notifications_user", "notifications", ["user_id", "id"])
    op.create_index("ix_notifications_user_unread", "notifications",
                    ["user_id", "read_at", "id"])
    op.create_index("ix_notifications_subject", "notifications", ["subject_id"])


def downgrade() -> None:
    op.drop_index("ix_notifications_subject", table_name="notifications")
    op.drop_index("ix_notifications_user_unread", table_name="notifications")
    op.drop_index("ix_notifications_user", table_name="notifications")
    op.drop_table("notifications")
