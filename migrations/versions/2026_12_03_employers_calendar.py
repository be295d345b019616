"""Employers confirm their workers, and the office's holiday arrangement per year.

- worker_profiles gains employer_status (pending, confirmed, rejected; NULL without an
  employer), employer_decided_at and employer_decided_by. A profile that named a
  merchant before this revision is `pending`: nobody ever confirmed it, so it no longer
  shows on the report until the merchant's staff confirm it.
- holiday_arrangements: the State Council's arrangement for a year, as the office
  entered it (PUT /v1/admin/calendar/{year}).

Revision ID: 2026_12_03_employers_calendar
Revises: 2026_12_03_idempotency_expiry
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import points.infra.db

revision = "2026_12_03_employers_calendar"
down_revision = "2026_12_03_idempotency_expiry"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("worker_profiles") as batch:
        batch.add_column(sa.Column("employer_status", sa.String(length=10), nullable=True))
        batch.add_column(sa.Column("employer_decided_at", points.infra.db.UTCDateTime(timezone=True),
                                   nullable=True))
        batch.add_column(sa.Column("employer_decided_by", ID, nullable=True))
        batch.create_foreign_key(op.f("fk_worker_profiles_employer_decided_by_users"), "users",
                                 ["employer_decided_by"], ["id"], ondelete="SET NULL")
        batch.create_check_constraint(
            op.f("ck_worker_profiles_employer_status"),
            "employer_status IS NULL OR employer_status IN ('pending', 'confirmed', 'rejected')")
        batch.create_index("ix_worker_profiles_merchant",
                           ["merchant_id", "employer_status", "id"])
    profiles = sa.table("worker_profiles", sa.column("merchant_id", ID),
                        sa.column("employer_status", sa.String))
    op.execute(profiles.update().where(profiles.c.merchant_id.is_not(None))
               .values(employer_status="pending"))

    op.create_table(
        "holiday_arrangements",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holidays", JSON, nullable=False),
        sa.Column("workdays", JSON, nullable=False),
        sa.Column("entered_by", sa.String(length=64), nullable=True),
        sa.Column("entered_at", points.infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("year BETWEEN 2000 AND 2100",
                           name=op.f("ck_holiday_arrangements_year")),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_holiday_arrangements")),
    )


def downgrade() -> None:
    op.drop_table("holiday_arrangements")
    with op.batch_alter_table("worker_profiles") as batch:
        batch.drop_index("ix_worker_profiles_merchant")
        batch.drop_constraint(op.f("ck_worker_profiles_employer_status"), type_="check")
        batch.drop_constraint(op.f("fk_worker_profiles_employer_decided_by_users"),
                              type_="foreignkey")
        batch.drop_column("employer_decided_by")
        batch.drop_column("employer_decided_at")
        batch.drop_column("employer_status")
