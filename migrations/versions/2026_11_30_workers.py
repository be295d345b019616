"""Worker profiles, report shares, reviews and credit checks (issue 6)

Revision ID: 2026_11_30_workers
Revises: 2026_11_30_incentives
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import points.db  # noqa: F401

revision = "2026_11_30_workers"
down_revision = "2026_11_30_incentives"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
