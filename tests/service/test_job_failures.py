"""A background job that raises is left `failed` with the exception among its errors,
so the console's progress bar stops and says why (`points.scores.jobs.mark_failed`)."""
from __future__ import annotations

import pytest

from points.infra.db import today
from points.models import Job, Subject
from points.rules import rule_preview, rule_store


def test_a_preview_that_raises_is_marked_failed_with_its_error(clean_app, session, monkeypatch):
    session.add(Subject(id_hash="h-job-failure", id_number_enc="x", name_enc="y"))
    code = rule_store.active(session).code
    job = rule_preview.start(session, code, "admin:test")
    session.commit()
    job_id = job.id

    def broken(*args, **kwargs):
        raise RuntimeError("scores unreadable")

    monkeypatch.setattr(rule_preview.scoring, "load_facts", broken)
    factory = clean_app.state.db.new_session
    with pytest.raises(RuntimeError):
        rule_preview.run(factory, job_id, today())
    session.expire_all()
    failed = session.get(Job, job_id)
    assert failed.status == "failed" and failed.finished_at is not None
    assert failed.errors == ["RuntimeError: scores unreadable"]
