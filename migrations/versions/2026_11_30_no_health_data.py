"""No health data kept: details beyond the declared ones are removed from blood and
stem-cell donations and health certificates (《征信业管理条例》 Art. 14), in the
records and in their earlier versions. Ingestion refuses such details from now on.

Revision ID: 2026_11_30_no_health_data
Revises: 2026_11_30_office
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "2026_11_30_no_health_data"
down_revision = "2026_11_30_office"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# The details each type may keep, as the shipped rule set declares them (fixed here:
# a migration must not change with later rule sets).
KEPT = {"donation.blood": set(), "donation.stem_cell": set(),
        "worker.health_certificate": {"valid_until"}}

records = sa.table("credit_records", sa.column("id", ID), sa.column("type", sa.String),
                   sa.column("details", JSON))
versions = sa.table("record_versions", sa.column("id", ID), sa.column("record_id", ID),
                    sa.column("snapshot", JSON))


def _kept(details: dict | None, record_type: str) -> dict | None:
    """The details without what may not be kept; None when nothing is removed."""
    if not isinstance(details, dict):
        return None
    kept = {key: value for key, value in details.items() if key in KEPT[record_type]}
    return kept if len(kept) != len(details) else None


def upgrade() -> None:
    bind = op.get_bind()
    # Only rows with details to look at: a donation with none (nearly all of them) is
    # left alone in SQL; certificates all carry valid_until and are checked here.
    has_details = sa.cast(records.c.details, sa.Text).not_in(["{}", "null"])
    rows = bind.execute(sa.select(records.c.id, records.c.type, records.c.details).where(
        records.c.type.in_(list(KEPT)),
        sa.or_(records.c.type == "worker.health_certificate", has_details))).all()
    for record_id, record_type, details in rows:
        if (kept := _kept(details, record_type)) is not None:
            bind.execute(records.update().where(records.c.id == record_id)
                         .values(details=kept))
    # A version keeps the record as it was, type included (a correction may have changed
    # it): every snapshot that names one of the types is looked at.
    named = sa.or_(*(sa.cast(versions.c.snapshot, sa.Text).like(f"%{code}%") for code in KEPT))
    old = bind.execute(sa.select(versions.c.id, versions.c.snapshot).where(named)).all()
    for version_id, snapshot in old:
        if not isinstance(snapshot, dict) or snapshot.get("type") not in KEPT:
            continue
        if (kept := _kept(snapshot.get("details"), snapshot["type"])) is not None:
            bind.execute(versions.update().where(versions.c.id == version_id)
                         .values(snapshot={**snapshot, "details": kept}))


def downgrade() -> None:
    """What was removed is gone for good; nothing to put back."""
