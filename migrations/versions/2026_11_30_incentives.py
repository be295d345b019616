"""Merchants, perks, verification codes and redemptions (issue 5)

Revision ID: 2026_11_30_incentives
Revises: 2026_11_30_workflows
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import points.db  # noqa: F401

revision = "2026_11_30_incentives"
down_revision = "2026_11_30_workflows"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
