"""The staff console: department users (clerks), console sessions, uploaded batches.

Revision ID: 2026_12_03_console
Revises: 2026_12_03_notifications
"""
import sqlalchemy as sa
from alembic import op

from points.infra.db import BigId, UTCDateTime

revision = "2026_12_03_console"
down_revision = "2026_12_03_notifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "department_users",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("department_id", BigId, sa.ForeignKey(
            "departments.id", name="fk_department_users_department_id_departments"),
            nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(80)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("password_changed_at", UTCDateTime()),
        sa.Column("last_sign_in_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_department_users"),
        sa.UniqueConstraint("username", name="uq_department_users_username"),
    )
    op.create_index("ix_department_users_department_id", "department_users", ["department_id"])
    op.create_table(
        "console_sessions",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("principal", sa.String(40), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_console_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_console_sessions_token_hash"),
    )
    op.create_index("ix_console_sessions_principal", "console_sessions", ["principal"])
    op.create_table(
        "console_uploads",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("job_id", sa.String(36), sa.ForeignKey(
            "jobs.id", name="fk_console_uploads_job_id_jobs"), nullable=False),
        sa.Column("department_id", BigId, sa.ForeignKey(
            "departments.id", name="fk_console_uploads_department_id_departments"),
            nullable=False),
        sa.Column("uploaded_by", sa.String(80), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("payload_enc", sa.Text()),
        sa.Column("rejected_enc", sa.Text()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_console_uploads"),
        sa.UniqueConstraint("job_id", name="uq_console_uploads_job_id"),
    )
    op.create_index("ix_console_uploads_department_id", "console_uploads", ["department_id"])


def downgrade() -> None:
    op.drop_table("console_uploads")
    op.drop_table("console_sessions")
    op.drop_table("department_users")
