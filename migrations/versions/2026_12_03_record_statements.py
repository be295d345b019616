"""The person's statement (说明) on a record, one per record.

Revision ID: 2026_12_03_record_statements
Revises: 2026_12_03_employers_calendar
"""
import sqlalchemy as sa
from alembic import op

from points.infra.db import BigId, UTCDateTime

TIME = UTCDateTime(timezone=True)

revision = "2026_12_03_record_statements"
down_revision = "2026_12_03_employers_calendar"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "record_statements",
        sa.Column("record_id", BigId, nullable=False),
        sa.Column("subject_id", BigId, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["credit_records.id"], ondelete="CASCADE",
                                name=op.f("fk_record_statements_record_id_credit_records")),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"],
                                name=op.f("fk_record_statements_subject_id_subjects")),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_record_statements")),
    )
    op.create_index("ix_record_statements_subject", "record_statements", ["subject_id"])


def downgrade() -> None:
    op.drop_index("ix_record_statements_subject", table_name="record_statements")
    op.drop_table("record_statements")
