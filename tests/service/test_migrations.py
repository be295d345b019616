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
    engine = app.extensions["credit"].db.engine
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
