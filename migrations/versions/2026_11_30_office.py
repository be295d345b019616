"""The credit office: background jobs and the audit trail (issue 7)

Revision ID: 2026_11_30_office
Revises: 2026_11_30_workers
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import points.infra.db

revision = "2026_11_30_office"
down_revision = "2026_11_30_workers"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("errors", JSON, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", points.infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", points.infra.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", points.infra.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", ID, nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=40), nullable=False),
        sa.Column("target_id", sa.String(length=80), nullable=False),
        sa.Column("before", JSON, nullable=True),
        sa.Column("after", JSON, nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", points.infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_target", "audit_log", ["target_type", "target_id"])
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    # The worker's firm, now that merchants exist (batch mode: SQLite rebuilds the table).
    with op.batch_alter_table("worker_profiles") as batch:
        batch.create_foreign_key(op.f("fk_worker_profiles_merchant_id_merchants"), "merchants",
                                 ["merchant_id"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("worker_profiles") as batch:
        batch.drop_constraint(op.f("fk_worker_profiles_merchant_id_merchants"), type_="foreignkey")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_index("ix_audit_log_target", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("jobs")
