"""Idempotency-Key rows expire: an index on created_at for the daily sweep, and the rows
kept so far deleted — their answers are in plain text and their request hashes unkeyed
(new rows hold an encrypted answer and an HMAC). A retry across the upgrade is answered
as a new request; the writes behind the header refuse a second effect themselves (one
grant per verification, one record per source_ref).

Revision ID: 2026_12_03_idempotency_expiry
Revises: 2026_12_03_face_verification
"""
from alembic import op

revision = "2026_12_03_idempotency_expiry"
down_revision = "2026_12_03_face_verification"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM idempotency_keys")
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
