"""Commitments, repairs, objections and notification outbox (issue 4)

Revision ID: 2026_11_30_workflows
Revises: 2026_11_30_credit_records
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import points.db  # noqa: F401

revision = "2026_11_30_workflows"
down_revision = "2026_11_30_credit_records"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
