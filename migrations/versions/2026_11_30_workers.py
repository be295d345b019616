"""Worker profiles, report shares, reviews and credit checks (issue 6)

Revision ID: 2026_11_30_workers
Revises: 2026_11_30_incentives
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import points.infra.db

revision = "2026_11_30_workers"
down_revision = "2026_11_30_incentives"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "credit_checks",
        sa.Column("id", ID, nullable=False),
        sa.Column("department_id", ID, nullable=False),
        sa.Column("subject_id", ID, nullable=True),
        sa.Column("id_number_masked", sa.String(length=18), nullable=False),
        sa.Column("name_masked", sa.String(length=50), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("matter_ref", sa.String(length=100), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("restricted", sa.Boolean(), nullable=False),
        sa.Column("rule_set", sa.String(length=64), nullable=False),
        sa.Column("negative_records", sa.JSON().with_variant(
            postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("checked_at", points.infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("checked_on", sa.Date(), nullable=False),
        sa.Column("feedback_action", sa.String(length=20), nullable=True),
        sa.Column("feedback_note", sa.Text(), nullable=True),
        sa.Column("feedback_at", points.infra.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "feedback_action IS NULL OR feedback_action IN "
            "('fast_track', 'normal', 'extra_review', 'denied')",
            name=op.f("ck_credit_checks_feedback_action")),
        sa.CheckConstraint(
            "purpose IN ('administrative_license', 'administrative_penalty', 'inspection', "
            "'financial_support', 'government_procurement', 'bidding', 'land_transfer', "
            "'research_funding', 'civil_service_hiring', 'commendation')",
            name=op.f("ck_credit_checks_purpose")),
        sa.ForeignKeyConstraint(["department_id"], ["departments.id"],
                                name=op.f("fk_credit_checks_department_id_departments")),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"],
                                name=op.f("fk_credit_checks_subject_id_subjects")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_checks")),
    )
    op.create_index("ix_credit_checks_department", "credit_checks", ["department_id", "id"])
    op.create_index("ix_credit_checks_pending", "credit_checks", ["checked_on", "feedback_at"])
    op.create_index(op.f("ix_credit_checks_subject_id"), "credit_checks", ["subject_id"])

    op.create_table(
        "report_shares",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("subject_id", ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_hint", sa.String(length=8), nullable=False),
        sa.Column("created_at", points.infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", points.infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", points.infra.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.Column("last_viewed_at", points.infra.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"],
                                name=op.f("fk_report_shares_subject_id_subjects")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_report_shares_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_shares")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_report_shares_token_hash")),
    )
    op.create_index("ix_report_shares_user", "report_shares", ["user_id", "id"])

    op.create_table(
        "worker_profiles",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("subject_id", ID, nullable=False),
        sa.Column("occupation", sa.String(length=20), nullable=False),
        # incentives' merchants.id; the foreign key is added once that table exists.
        sa.Column("merchant_id", ID, nullable=True),
        sa.Column("created_at", points.infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", points.infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("occupation IN ('housekeeping', 'lawyer', 'teacher', 'doctor')",
                           name=op.f("ck_worker_profiles_occupation")),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"],
                                name=op.f("fk_worker_profiles_subject_id_subjects")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_worker_profiles_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker_profiles")),
        sa.UniqueConstraint("user_id", name=op.f("uq_worker_profiles_user_id")),
    )
    op.create_index(op.f("ix_worker_profiles_subject_id"), "worker_profiles", ["subject_id"])

    op.create_table(
        "report_reviews",
        sa.Column("id", ID, nullable=False),
        sa.Column("share_id", ID, nullable=False),
        sa.Column("subject_id", ID, nullable=False),
        sa.Column("reviewer_id", ID, nullable=True),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", points.infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_report_reviews_rating")),
        sa.ForeignKeyConstraint(["reviewer_id"], ["users.id"],
                                name=op.f("fk_report_reviews_reviewer_id_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["share_id"], ["report_shares.id"],
                                name=op.f("fk_report_reviews_share_id_report_shares"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"],
                                name=op.f("fk_report_reviews_subject_id_subjects")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_reviews")),
        sa.UniqueConstraint("share_id", "reviewer_id",
                            name=op.f("uq_report_reviews_share_id_reviewer_id")),
    )
    op.create_index("ix_report_reviews_subject", "report_reviews", ["subject_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_report_reviews_subject", table_name="report_reviews")
    op.drop_table("report_reviews")
    op.drop_index(op.f("ix_worker_profiles_subject_id"), table_name="worker_profiles")
    op.drop_table("worker_profiles")
    op.drop_index("ix_report_shares_user", table_name="report_shares")
    op.drop_table("report_shares")
    op.drop_index(op.f("ix_credit_checks_subject_id"), table_name="credit_checks")
    op.drop_index("ix_credit_checks_pending", table_name="credit_checks")
    op.drop_index("ix_credit_checks_department", table_name="credit_checks")
    op.drop_table("credit_checks")
