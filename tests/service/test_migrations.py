"""Migrations: one head, and the models match what the migrations build."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from api.cli import alembic_config
from points.models import Base


def test_single_head(app):
    script = ScriptDirectory.from_config(alembic_config(app.config["DATABASE_URL"]))
    assert len(script.get_heads()) == 1


def test_models_match_migrations(app):
    engine = app.state.db.engine
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_foreign_keys_enforced(app, session):
    from sqlalchemy.exc import IntegrityError

    from points.models import User

    session.add(User(openid="x", subject_id=987654))
    try:
        session.flush()
        raised = False
    except IntegrityError:
        raised = True
    assert raised


def test_health_data_kept_before_is_removed(app, client, session):
    """Records stored before ingestion refused health data lose it on upgrade, in the
    record and in its earlier versions; other details stay."""
    import datetime as dt

    from alembic import command
    from sqlalchemy import select

    from api.cli import alembic_config
    from points.models import CreditRecord, RecordVersion
    from tests.builders.departments import department, push
    from tests.builders.residents import valid_id

    dept = department(app, client)
    number = valid_id(seq=51)
    push(client, dept,
         {"source_ref": "blood", "type": "donation.blood", "id_number": number,
          "occurred_on": "2026-05-01"},
         {"source_ref": "cert", "type": "worker.health_certificate", "id_number": number,
          "details": {"valid_until": "2027-05-01"}},
         {"source_ref": "penalty", "type": "admin.penalty.general", "id_number": number,
          "decided_on": "2026-11-02", "details": {"document": "长市监罚〔2026〕1号"}})
    rows = {r.source_ref: r for r in session.execute(select(CreditRecord)).scalars()}
    rows["blood"].details = {"blood_type": "O", "rh": "+"}  # as an earlier version kept them
    rows["cert"].details = {"valid_until": "2027-05-01", "diagnosis": "乙肝携带"}
    session.add(RecordVersion(
        record_id=rows["blood"].id, version=1, change="corrected", changed_by="test",
        changed_at=dt.datetime.now(dt.UTC),
        snapshot={"type": "donation.blood", "details": {"blood_type": "O"}, "version": 1}))
    session.commit()

    url = app.config["DATABASE_URL"]
    command.downgrade(alembic_config(url), "2026_11_30_office")
    command.upgrade(alembic_config(url), "head")

    session.expire_all()
    details = dict(session.execute(select(CreditRecord.source_ref, CreditRecord.details)).all())
    assert details == {"blood": {}, "cert": {"valid_until": "2027-05-01"},
                       "penalty": {"document": "长市监罚〔2026〕1号"}}
    snapshot = session.execute(select(RecordVersion.snapshot)).scalar_one()
    assert snapshot == {"type": "donation.blood", "details": {}, "version": 1}


def test_profiles_that_named_an_employer_before_are_pending_after_the_upgrade(app, client,
                                                                              session):
    """Nobody confirmed an employer named before employers confirmed their workers:
    after the upgrade such a profile is pending (off the report until confirmed)."""
    from alembic import command
    from sqlalchemy import select

    from api.cli import alembic_config
    from points.models.workers import WorkerProfile
    from tests.builders.merchants import approved_merchant
    from tests.builders.residents import resident, valid_id

    company = approved_merchant(app, client, name="好管家家政", sector="housekeeping")
    named, alone = (resident(client, id_number=valid_id(birth="19900202", seq=seq))
                    for seq in (61, 62))
    for person, merchant_id in ((named, company["id"]), (alone, None)):
        r = client.put("/v1/me/worker-profile", headers=person["headers"],
                       json={"occupation": "housekeeping", "merchant_id": merchant_id})
        assert r.status_code == 200, r.json

    url = app.config["DATABASE_URL"]
    command.downgrade(alembic_config(url), "2026_11_30_no_health_data")
    command.upgrade(alembic_config(url), "head")

    rows = session.execute(select(WorkerProfile.merchant_id, WorkerProfile.employer_status)
                           .order_by(WorkerProfile.id)).all()
    assert [tuple(r) for r in rows] == [(company["id"], "pending"), (None, None)]
