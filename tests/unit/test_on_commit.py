"""`points.infra.db.on_commit`: side effects run after the transaction commits, never when
a savepoint inside it is released, and a rolled-back savepoint drops only its own."""
from __future__ import annotations

from sqlalchemy import text

from points.infra.db import on_commit


def test_a_released_savepoint_runs_nothing_yet(session):
    ran = []
    session.execute(text("SELECT 1"))
    on_commit(session, lambda: ran.append("outer"))
    with session.begin_nested():
        on_commit(session, lambda: ran.append("inner"))
    assert ran == []  # released, not committed
    session.commit()
    assert ran == ["outer", "inner"]


def test_a_savepoint_rolled_back_drops_only_its_own(session):
    ran = []
    session.execute(text("SELECT 1"))
    on_commit(session, lambda: ran.append("before"))
    savepoint = session.begin_nested()
    on_commit(session, lambda: ran.append("rolled back"))
    with session.begin_nested():
        on_commit(session, lambda: ran.append("nested in it"))
    savepoint.rollback()
    on_commit(session, lambda: ran.append("after"))
    session.commit()
    assert ran == ["before", "after"]


def test_a_rollback_drops_everything_and_the_next_transaction_starts_clean(session):
    ran = []
    session.execute(text("SELECT 1"))
    on_commit(session, lambda: ran.append("lost"))
    session.rollback()
    session.execute(text("SELECT 1"))
    on_commit(session, lambda: ran.append("kept"))
    session.commit()
    assert ran == ["kept"]
