"""Scores as a rebuildable cache: Redis agrees with the database after every commit,
reads survive Redis being down, `points recompute --all` finds tampered scores,
and the retention purge removes what the law allows."""
from __future__ import annotations

import datetime as dt

import redis as redis_lib

from points.models import CreditRecord, Score
from points.scores import score_cache
from tests.builders.departments import department, push
from tests.builders.residents import resident, valid_id
from tests.builders.servers import run_jobs


def test_cache_follows_every_commit(app, client, session):
    number = valid_id(seq=41)
    person = resident(client, id_number=number)
    dept = department(app, client)
    cache = app.state.redis
    client.get("/v1/me/points", headers=person["headers"])
    subject_id = session.query(Score).one().subject_id
    assert score_cache.get(cache, subject_id)["points"] == 1000
    push(client, dept, {"source_ref": "c1", "type": "admin.penalty.general", "id_number": number,
                        "decided_on": "2026-11-01"})
    assert score_cache.get(cache, subject_id)["points"] == 970
    client.post("/v1/dept/records/c1/revoke", headers=dept, json={"reason": "wrong"})
    assert score_cache.get(cache, subject_id)["points"] == 1000
    stored = session.query(Score).one()
    session.refresh(stored)
    assert stored.points == 1000 and stored.version == 3


def test_cache_never_goes_back_to_an_older_version(app):
    cache = app.state.redis
    cache.flushdb()
    score_cache.put(cache, 7, 5, {"points": 1005})
    score_cache.put(cache, 7, 4, {"points": 1004})  # a late writer with an older score
    assert score_cache.get(cache, 7)["points"] == 1005


def test_points_are_served_from_the_database_when_redis_is_down(app, client):
    number = valid_id(seq=42)
    dept = department(app, client)
    push(client, dept, {"type": "donation.blood", "id_number": number, "occurred_on": "2026-06-01"})
    person = resident(client, id_number=number)
    state = app.state
    real = state.redis

    class Down:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise redis_lib.exceptions.ConnectionError("redis is down")
            return fail

    state.redis = Down()
    try:
        state.tokens.redis = state.redis
        r = client.get("/v1/me/points", headers=person["headers"])
    finally:
        state.redis = real
        state.tokens.redis = real
    assert r.status_code == 200 and r.json["points"] == 1010


def test_recompute_all_reports_scores_that_differ(app, client, session):
    number = valid_id(seq=43)
    dept = department(app, client)
    push(client, dept, {"type": "donation.blood", "id_number": number, "occurred_on": "2026-06-01"},
         {"type": "donation.blood", "id_number": valid_id(seq=44), "occurred_on": "2026-06-01"})
    runner = app.test_cli_runner()
    result = runner.invoke(args=["points", "recompute", "--all"])
    assert "recomputed 2 subjects; 0 stored scores differed" in result.output
    stored = session.query(Score).order_by(Score.subject_id).first()
    stored.points = 1234
    session.commit()
    result = runner.invoke(args=["points", "recompute", "--all"])
    assert "recomputed 2 subjects; 1 stored scores differed" in result.output
    session.expire_all()
    assert session.get(Score, stored.subject_id).points == 1010
    assert runner.invoke(args=["points", "recompute"]).exit_code != 0


def test_retention_purges_negative_records_five_years_after_their_window(app, client, session):
    import time_machine

    dept = department(app, client)
    number = valid_id(seq=45)
    push(client, dept,
         {"source_ref": "old", "type": "admin.penalty.general", "id_number": number,
          "decided_on": "2020-01-10"},   # window ended 2021-01-10: purge from 2026-01-10
         {"source_ref": "recent", "type": "admin.penalty.general", "id_number": number,
          "decided_on": "2021-06-10"},   # window ended 2022-06-10: kept until 2027-06-10
         {"source_ref": "good", "type": "honour.city", "id_number": number,
          "occurred_on": "2019-01-01"})  # positive records are not purged by this rule
    with time_machine.travel(dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC), tick=False):
        result = app.test_cli_runner().invoke(args=["points", "sweep"])
    assert "purged_records 1" in result.output
    assert sorted(r.source_ref for r in session.query(CreditRecord)) == ["good", "recent"]


def test_split_recompute_in_ranges(app, client, session):
    """`points recompute --all --jobs N`: subject ranges that workers take; the job row
    adds up the parts and is done when the last lands."""
    from points.models import Job

    dept = department(app, client)
    push(client, dept, *[{"type": "donation.blood", "id_number": valid_id(seq=300 + i),
                          "occurred_on": "2026-06-01"} for i in range(7)])
    session.query(Score).delete()
    session.commit()
    result = app.test_cli_runner().invoke(args=["points", "recompute", "--all", "--jobs", "3"])
    assert "parts queued" in result.output, result.output
    run_jobs(app)
    job = session.query(Job).one()
    session.refresh(job)
    assert (job.status, job.done, job.total, job.changed) == ("done", 7, 7, 7)
    assert len(job.params["ranges"]) == 3
    assert session.query(Score).count() == 7


def test_retention_takes_purged_records_out_of_the_credit_checks_that_saw_them(app, client,
                                                                                session):
    """A credit check keeps the negative records it saw; when one is purged, the copy
    goes too (rules §7), while the records still kept stay listed."""
    import time_machine

    dept = department(app, client)
    number = valid_id(seq=46)
    push(client, dept,
         {"source_ref": "old", "type": "admin.penalty.general", "id_number": number,
          "decided_on": "2020-01-10"},
         {"source_ref": "recent", "type": "admin.penalty.general", "id_number": number,
          "decided_on": "2021-06-10"})
    made = {}
    for day in ("2020-06-20", "2021-06-20"):  # each check sees the one record counting then
        moment = dt.datetime.fromisoformat(day).replace(hour=12, tzinfo=dt.UTC)
        with time_machine.travel(moment, tick=False):
            r = client.post("/v1/dept/credit-checks", headers=dept, json={
                "subject": {"id_number": number, "name": "张三"},
                "purpose": "administrative_license", "matter_ref": f"XK-{day}"})
        assert r.status_code == 201, r.json
        made[day] = r.json
    assert [[r["decided_on"] for r in check["negative_records"]] for check in made.values()] == [
        ["2020-01-10"], ["2021-06-10"]]
    with time_machine.travel(dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC), tick=False):
        result = app.test_cli_runner().invoke(args=["points", "sweep"])
    assert "purged_records 1" in result.output
    for day, left in (("2020-06-20", []), ("2021-06-20", ["2021-06-10"])):
        kept = client.get(f"/v1/dept/credit-checks/{made[day]['id']}", headers=dept)
        assert kept.status_code == 200, kept.json
        assert [r["decided_on"] for r in kept.json["negative_records"]] == left
        assert kept.json["points"] == made[day]["points"]  # what the department was told


def test_retention_of_a_window_ending_on_a_leap_day(app, client, session):
    """A window that ended on 29 Feb 2024 is purged on 28 Feb 2029 (five years on,
    clamped to the month's end), not a day later."""
    import time_machine

    dept = department(app, client)
    push(client, dept, {"source_ref": "leap", "type": "admin.penalty.minor",
                        "id_number": valid_id(seq=47), "decided_on": "2024-02-29",
                        "ended_on": "2024-02-29"})
    for day, left in ((27, ["leap"]), (28, [])):
        with time_machine.travel(dt.datetime(2029, 2, day, 12, tzinfo=dt.UTC), tick=False):
            app.test_cli_runner().invoke(args=["points", "sweep"])
        session.expire_all()
        assert [r.source_ref for r in session.query(CreditRecord)] == left, day


def test_retention_finds_the_copies_of_a_record_corrected_to_another_person(app, client,
                                                                             session):
    """A check of the person a record was first sent about listed it; the department
    then corrected it to another person. The purge takes it out of that check too."""
    import time_machine

    dept = department(app, client)
    first, second = valid_id(seq=48), valid_id(seq=49)
    record = {"source_ref": "moved", "type": "admin.penalty.general",
              "decided_on": "2020-01-10"}
    push(client, dept, {**record, "id_number": first})
    with time_machine.travel(dt.datetime(2020, 6, 20, 12, tzinfo=dt.UTC), tick=False):
        made = client.post("/v1/dept/credit-checks", headers=dept, json={
            "subject": {"id_number": first, "name": "张三"},
            "purpose": "administrative_license", "matter_ref": "XK-2020-9"})
    assert made.status_code == 201, made.json
    assert [r["decided_on"] for r in made.json["negative_records"]] == ["2020-01-10"]
    assert push(client, dept, {**record, "id_number": second, "name": "李四"})[
        "accepted"][0]["result"] == "updated"
    with time_machine.travel(dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC), tick=False):
        result = app.test_cli_runner().invoke(args=["points", "sweep"])
    assert "purged_records 1" in result.output
    kept = client.get(f"/v1/dept/credit-checks/{made.json['id']}", headers=dept).json
    assert kept["negative_records"] == []
