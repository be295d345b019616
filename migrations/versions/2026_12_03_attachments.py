"""Evidence files (attachments) and the repairs and objections citing them.

Revision ID: 2026_12_03_attachments
Revises: 2026_12_03_console
"""
import sqlalchemy as sa
from alembic import op

from points.infra.db import BigId, UTCDateTime

revision = "2026_12_03_attachments"
down_revision = "2026_12_03_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=True),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("content_type IN ('application/pdf', 'image/jpeg', 'image/png')",
                           name=op.f("ck_attachments_content_type")),
        sa.CheckConstraint("size > 0", name=op.f("ck_attachments_size")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL",
                                name=op.f("fk_attachments_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
    )
    op.create_index("ix_attachments_user", "attachments", ["user_id", "id"])
    op.create_index("ix_attachments_sha256", "attachments", ["sha256"])
    op.create_table(
        "attachment_citations",
        sa.Column("id", BigId, nullable=False),
        sa.Column("attachment_id", BigId, nullable=False),
        sa.Column("repair_id", BigId, nullable=True),
        sa.Column("objection_id", BigId, nullable=True),
        sa.Column("department_id", BigId, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint("(repair_id IS NULL) <> (objection_id IS NULL)",
                           name=op.f("ck_attachment_citations_one_case")),
        sa.ForeignKeyConstraint(["attachment_id"], ["attachments.id"], ondelete="CASCADE",
                                name=op.f("fk_attachment_citations_attachment_id_attachments")),
        sa.ForeignKeyConstraint(["repair_id"], ["repair_applications.id"], ondelete="CASCADE",
                                name=op.f("fk_attachment_citations_repair_id_repair_applications")),
        sa.ForeignKeyConstraint(["objection_id"], ["objections.id"], ondelete="CASCADE",
                                name=op.f("fk_attachment_citations_objection_id_objections")),
        sa.ForeignKeyConstraint(["department_id"], ["departments.id"],
                                name=op.f("fk_attachment_citations_department_id_departments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachment_citations")),
    )
    op.create_index("uq_attachment_citations_repair", "attachment_citations",
                    ["repair_id", "attachment_id"], unique=True)
    op.create_index("uq_attachment_citations_objection", "attachment_citations",
                    ["objection_id", "attachment_id"], unique=True)
    op.create_index("ix_attachment_citations_attachment", "attachment_citations",
                    ["attachment_id", "department_id"])


def downgrade() -> None:
    op.drop_table("attachment_citations")
    op.drop_table("attachments")
