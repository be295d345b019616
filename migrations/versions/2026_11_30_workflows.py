"""Commitments, repairs, objections and notification outbox (issue 4)

Revision ID: 2026_11_30_workflows
Revises: 2026_11_30_credit_records
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import points.infra.db

revision = "2026_11_30_workflows"
down_revision = "2026_11_30_credit_records"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _when(condition: str) -> dict:
    """A partial index's condition, for both engines."""
    return {"sqlite_where": sa.text(condition), "postgresql_where": sa.text(condition)}


def upgrade() -> None:
    op.create_table(
        "commitments",
        sa.Column("id", ID, nullable=False),
        sa.Column("subject_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("department_id", ID, nullable=True),
        sa.Column("matter", sa.String(length=200), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("notice", JSON, nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=False),
        sa.Column("outcome_on", sa.Date(), nullable=True),
        sa.Column("outcome_serious", sa.Boolean(), nullable=True),
        sa.Column("outcome_record_id", ID, nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("closed_at", points.infra.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", points.infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('voluntary', 'industry', 'approval_substitute', "
                           "'missing_materials', 'repair')", name=op.f("ck_commitments_kind")),
        sa.CheckConstraint("status IN ('active', 'fulfilled', 'breached', 'withdrawn', 'expired')",
                           name=op.f("ck_commitments_status")),
        sa.ForeignKeyConstraint(["department_id"], ["departments.id"],
                                name=op.f("fk_commitments_department_id_departments")),
        sa.ForeignKeyConstraint(["outcome_record_id"], ["credit_records.id"],
                                name=op.f("fk_commitments_outcome_record_id_credit_records"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"],
                                name=op.f("fk_commitments_subject_id_subjects")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_commitments_user_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commitments")),
    )
    with op.batch_alter_table("commitments", schema=None) as batch_op:
        batch_op.create_index("ix_commitments_department_status", ["department_id", "status"],
                              unique=False)
        batch_op.create_index("ix_commitments_public", ["public", "status", "id"], unique=False)
        batch_op.create_index("ix_commitments_subject", ["subject_id", "id"], unique=False)

    op.create_table(
        "objections",
        sa.Column("id", ID, nullable=False),
        sa.Column("record_id", ID, nullable=False),
        sa.Column("subject_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("department_id", ID, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("decision_due_on", sa.Date(), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", points.infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", points.infra.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'upheld', 'rejected')",
                           name=op.f("ck_objections_status")),
        sa.ForeignKeyConstraint(["department_id"], ["departments.id"],
                                name=op.f("fk_objections_department_id_departments")),
        sa.ForeignKeyConstraint(["record_id"], ["credit_records.id"],
                                name=op.f("fk_objections_record_id_credit_records"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"],
                                name=op.f("fk_objections_subject_id_subjects")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_objections_user_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objections")),
    )
    with op.batch_alter_table("objections", schema=None) as batch_op:
        batch_op.create_index("ix_objections_department_status", ["department_id", "status"],
                              unique=False)
        batch_op.create_index("ix_objections_subject", ["subject_id", "id"], unique=False)
        batch_op.create_index("uq_objections_open_record", ["record_id"], unique=True,
                              **_when("status = 'pending'"))

    op.create_table(
        "outbox_messages",
        sa.Column("id", ID, nullable=False),
        sa.Column("dedupe_key", sa.String(length=120), nullable=False),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("page", sa.String(length=200), nullable=True),
        sa.Column("data", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", points.infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", points.infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", points.infra.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'sent', 'skipped', 'failed')",
                           name=op.f("ck_outbox_messages_status")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_outbox_messages_user_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_messages_dedupe_key")),
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_messages_due", ["status", "next_attempt_at"],
                              unique=False)

    op.create_table(
        "repair_applications",
        sa.Column("id", ID, nullable=False),
        sa.Column("record_id", ID, nullable=False),
        sa.Column("subject_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("department_id", ID, nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("evidence", JSON, nullable=False),
        sa.Column("commitment_id", ID, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("decision_due_on", sa.Date(), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", points.infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", points.infra.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('submitted', 'approved', 'rejected', 'withdrawn')",
                           name=op.f("ck_repair_applications_status")),
        sa.ForeignKeyConstraint(["commitment_id"], ["commitments.id"],
                                name=op.f("fk_repair_applications_commitment_id_commitments")),
        sa.ForeignKeyConstraint(["department_id"], ["departments.id"],
                                name=op.f("fk_repair_applications_department_id_departments")),
        sa.ForeignKeyConstraint(["record_id"], ["credit_records.id"],
                                name=op.f("fk_repair_applications_record_id_credit_records"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"],
                                name=op.f("fk_repair_applications_subject_id_subjects")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_repair_applications_user_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repair_applications")),
    )
    with op.batch_alter_table("repair_applications", schema=None) as batch_op:
        batch_op.create_index("ix_repair_applications_department_status",
                              ["department_id", "status"], unique=False)
        batch_op.create_index("ix_repair_applications_subject", ["subject_id", "id"],
                              unique=False)
        batch_op.create_index("uq_repair_applications_open_record", ["record_id"], unique=True,
                              **_when("status = 'submitted'"))


def downgrade() -> None:
    with op.batch_alter_table("repair_applications", schema=None) as batch_op:
        batch_op.drop_index("uq_repair_applications_open_record", **_when("status = 'submitted'"))
        batch_op.drop_index("ix_repair_applications_subject")
        batch_op.drop_index("ix_repair_applications_department_status")
    op.drop_table("repair_applications")
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_messages_due")
    op.drop_table("outbox_messages")
    with op.batch_alter_table("objections", schema=None) as batch_op:
        batch_op.drop_index("uq_objections_open_record", **_when("status = 'pending'"))
        batch_op.drop_index("ix_objections_subject")
        batch_op.drop_index("ix_objections_department_status")
    op.drop_table("objections")
    with op.batch_alter_table("commitments", schema=None) as batch_op:
        batch_op.drop_index("ix_commitments_subject")
        batch_op.drop_index("ix_commitments_public")
        batch_op.drop_index("ix_commitments_department_status")
    op.drop_table("commitments")
