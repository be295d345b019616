"""Departments' record batches: quality checks on four dimensions, idempotent
storage per (department, source_ref), and the points recomputed at once.

A bad record never blocks the good ones: each is checked alone, the rejected
ones become quality issues for the department, and the accepted ones are stored
together in the request's transaction.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

import redis
from sqlalchemy import JSON, ColumnElement, any_, cast, column, func, literal, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from points.i18n import N_
from points.infra.crypto import DataCipher
from points.infra.db import SHANGHAI, dialect_insert, utcnow
from points.models import (
    CreditRecord,
    Department,
    IngestBatch,
    QualityIssue,
    RecordVersion,
    Subject,
)
from points.office.workdays import add_working_days
from points.people import notifications
from points.people.identity import is_adult, normalise_id_number, same_name
from points.rules import engine, rule_store
from points.rules.rulesets import RuleSet
from points.scores import scoring

MAX_BATCH = 1000
# What became of an accepted record: new, the same as before, or a correction.
RESULTS = ("created", "unchanged", "updated")
# Rules §8: an administrative penalty should reach the platform within 7 working days
# of its decision; a later one is accepted and flagged late.
TIMELINESS_WORKING_DAYS = 7
TIMELY_TYPES = "admin.penalty."  # the record types that deadline is for
DATE_FIELDS = ("occurred_on", "decided_on", "ended_on")
# 《征信业管理条例》 Art. 14: no health data is collected (rules §4: a blood donation is
# the event only). Records of these types keep only the details their rule declares.
HEALTH_RELATED_TYPES = frozenset({"donation.blood", "donation.stem_cell",
                                  "worker.health_certificate"})
# Rules §1: the subjects are natural persons aged 18 or more.
UNDER_18 = N_("the person is under 18: personal credit records are kept for residents aged 18 or over")
HEALTH_DATA = N_("not collected: health data may not be stored (征信业管理条例 Art. 14)")

RECORD_KEYS = {"source_ref", "subject", "type", *DATE_FIELDS, "details"}
# The fields a record may omit. A correction that omits one keeps what is stored (an
# end set through POST …/end among them); only an explicit null clears it.
OPTIONAL_FIELDS = (*DATE_FIELDS, "details")
REVOKED = N_("the record was revoked and is not corrected: a revoked record stays revoked; "
           "report the fact again under a new source_ref")


def late(record_type: str, decided_on: dt.date | None, received_on: dt.date) -> bool:
    """Did a record of this type, decided then, reach the platform late (rules §8)?"""
    if not record_type.startswith(TIMELY_TYPES) or decided_on is None or decided_on > received_on:
        return False
    return received_on > add_working_days(decided_on, TIMELINESS_WORKING_DAYS)


@dataclass
class Checked:
    """One incoming record after the checks."""

    index: int
    source_ref: str | None
    problems: list[dict[str, str]] = field(default_factory=list)
    id_number: str | None = None
    name: str | None = None
    type: str | None = None
    dates: dict[str, dt.date | None] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    late: bool = False
    id_hash: str | None = None  # the subject's lookup hash, computed once per record
    kept: tuple[str, ...] = ()  # optional fields omitted and taken from the stored record

    def problem(self, dimension: str, field_name: str, message: str) -> None:
        self.problems.append({"dimension": dimension, "field": field_name, "message": message})


def _parse_date(checked: Checked, raw: dict, name: str) -> dt.date | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        checked.problem("validity", name, "must be a date YYYY-MM-DD")
        return None
    try:
        # fromisoformat alone also takes 20261130 and 2026-W48-1; the contract says YYYY-MM-DD
        if len(value) == 10:
            return dt.date.fromisoformat(value)
    except ValueError:
        pass
    checked.problem("validity", name, "must be a date YYYY-MM-DD")
    return None


def check_one(index: int, raw: Any, department: Department, rule_set: RuleSet,
              today: dt.date, stored: CreditRecord | None = None) -> Checked:
    """Completeness, validity, accuracy (except the name check, which needs the
    database) and timeliness of one record, each problem naming its field. A resend
    of the `stored` record keeps the stored value of every optional field it omits,
    and is checked as it will be stored."""
    if not isinstance(raw, dict):
        checked = Checked(index, None)
        checked.problem("validity", "record", "must be an object")
        return checked
    source_ref = raw.get("source_ref")
    checked = Checked(index, source_ref if isinstance(source_ref, str) else None)
    _check_fields(checked, raw)
    _check_subject(checked, raw.get("subject"), today)
    _check_type(checked, raw.get("type"), department, rule_set)
    _take_dates_and_details(checked, raw, stored)
    _check_dates(checked, today)
    if checked.type is not None:
        _check_against_rule(checked, rule_set, today)
    return checked


def _check_fields(checked: Checked, raw: dict) -> None:
    """The source_ref is there and fits; no field the contract does not know."""
    source_ref = raw.get("source_ref")
    if not isinstance(source_ref, str) or not source_ref.strip():
        checked.problem("completeness", "source_ref", "is required")
    elif len(source_ref) > 100:
        checked.problem("validity", "source_ref", "at most 100 characters")
    for key in sorted(set(raw) - RECORD_KEYS):
        checked.problem("validity", key, "unknown field")


def _check_subject(checked: Checked, subject: Any, today: dt.date) -> None:
    """The person: a valid ID number of an adult, and a name."""
    if not isinstance(subject, dict):
        checked.problem("completeness", "subject", "is required (id_number and name)")
        subject = {}
    _check_id_number(checked, subject.get("id_number"), today)
    _check_name(checked, subject.get("name"))


def _check_id_number(checked: Checked, id_number: Any, today: dt.date) -> None:
    if not id_number:
        checked.problem("completeness", "subject.id_number", "is required")
    elif not isinstance(id_number, str):
        checked.problem("validity", "subject.id_number", "must be a string")
    else:
        try:
            checked.id_number = normalise_id_number(id_number)
        except ValueError as exc:
            checked.problem("validity", "subject.id_number", str(exc))
        else:
            if not is_adult(checked.id_number, today):
                checked.problem("validity", "subject.id_number", UNDER_18)


def _check_name(checked: Checked, name: Any) -> None:
    if not name:
        checked.problem("completeness", "subject.name", "is required")
    elif not isinstance(name, str) or len(name) > 50:
        checked.problem("validity", "subject.name", "must be a name of at most 50 characters")
    else:
        checked.name = name.strip()


def _check_type(checked: Checked, record_type: Any, department: Department,
                rule_set: RuleSet) -> None:
    """A record type the rule set knows and the department may report."""
    if not record_type:
        checked.problem("completeness", "type", "is required")
    elif not isinstance(record_type, str) or rule_set.record_type(record_type) is None:
        checked.problem("validity", "type", f"unknown record type {record_type!r}")
    elif record_type not in (department.record_types or []):
        checked.problem("validity", "type",
                        f"department {department.code!r} may not report {record_type!r}")
    else:
        checked.type = record_type


def _take_dates_and_details(checked: Checked, raw: dict, stored: CreditRecord | None) -> None:
    """The dates and details as they will be stored: those a resend omits kept from
    the stored record, the others read from the record sent."""
    if stored is not None:
        checked.kept = tuple(name for name in OPTIONAL_FIELDS if name not in raw)
    for name in DATE_FIELDS:
        checked.dates[name] = (getattr(stored, name) if name in checked.kept
                               else _parse_date(checked, raw, name))
    details = stored.details if "details" in checked.kept else raw.get("details", {})
    if details is None:
        details = {}
    if not isinstance(details, dict):
        checked.problem("validity", "details", "must be an object")
        details = {}
    elif details and (unstorable := _unstorable(details)):
        checked.problem("validity", "details", unstorable)
    checked.details = details


def _check_dates(checked: Checked, today: dt.date) -> None:
    """No date in the future, no decision before the event."""
    for name, value in checked.dates.items():
        if value is not None and value > today:
            checked.problem("accuracy", name, "is in the future")
    occurred, decided = checked.dates["occurred_on"], checked.dates["decided_on"]
    if occurred and decided and decided < occurred:
        checked.problem("accuracy", "decided_on", "is before occurred_on")


def _check_against_rule(checked: Checked, rule_set: RuleSet, today: dt.date) -> None:
    """What the record type's rule asks of the record (its dates and details), no
    health data, and whether it came late (rules §8)."""
    facts = engine.RecordFacts(id=None, type=checked.type, details=checked.details,
                               **checked.dates)
    for problem in engine.check_record(facts, rule_set):
        checked.problem(problem.dimension, _record_field(problem.field), problem.message)
    if checked.type in HEALTH_RELATED_TYPES:
        declared = {rule.name for rule in rule_set.record_type(checked.type).required_details}
        for key in sorted(set(checked.details) - declared):
            checked.problem("validity", f"details.{key}", HEALTH_DATA)
    checked.late = late(checked.type, checked.dates["decided_on"], today)


def _record_field(name: str) -> str:
    """The field of the record a rule's problem is about (a detail's under details.)."""
    if name in {"type", *DATE_FIELDS} or name.startswith("details"):
        return name
    return f"details.{name}"


_INT_LIMIT = 1 << 63


def _unstorable(value: Any) -> str | None:
    """Why a details value would not survive as JSON in both databases (NaN and
    Infinity, which Python's parser accepts and PostgreSQL's jsonb refuses; integers
    beyond 64 bits), else None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else "numbers must be finite (no NaN or Infinity)"
    if isinstance(value, int) and not isinstance(value, bool):
        return None if -_INT_LIMIT <= value < _INT_LIMIT else "integers must fit in 64 bits"
    children = value.values() if isinstance(value, dict) else (
        value if isinstance(value, list) else ())
    for child in children:
        if problem := _unstorable(child):
            return problem
    return None


# json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str), without
# building a new encoder for each record.
_CONTENT_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str)


def content_hash(checked: Checked, id_hash: str) -> str:
    payload = {"type": checked.type, "subject": id_hash,
               **{k: v.isoformat() if v else None for k, v in checked.dates.items()},
               "details": checked.details}
    return hashlib.sha256(_CONTENT_ENCODER.encode(payload).encode()).hexdigest()


def snapshot(record: CreditRecord) -> dict[str, Any]:
    return {
        "subject_id": record.subject_id, "type": record.type,
        "occurred_on": record.occurred_on.isoformat() if record.occurred_on else None,
        "decided_on": record.decided_on.isoformat() if record.decided_on else None,
        "ended_on": record.ended_on.isoformat() if record.ended_on else None,
        "repaired_on": record.repaired_on.isoformat() if record.repaired_on else None,
        "status": record.status, "details": record.details, "version": record.version,
    }


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# SQLite's IN lists stay below its bound-parameter limit in chunks of this size.
IN_CHUNK = 500


def _chunks(session: Session, values: list) -> list[list]:
    """The values in one piece on PostgreSQL (one array parameter), else in IN-list chunks."""
    if _postgres(session):
        return [values] if values else []
    return [values[i:i + IN_CHUNK] for i in range(0, len(values), IN_CHUNK)]


def _among(session: Session, col, values: list) -> ColumnElement[bool]:
    """`column IN (values)`. On PostgreSQL `= ANY(array)`: one parameter instead of
    hundreds, so the SQL text stays short and psycopg does not parse a placeholder
    per value on every batch (that parsing cost more than the lookups themselves)."""
    if _postgres(session):
        return col == any_(literal(values, postgresql.ARRAY(col.type)))
    return col.in_(values)


def _insert_rows(session: Session, model, rows: list[dict[str, Any]]):
    """INSERT these rows (all with the same keys) as one statement: on PostgreSQL
    `INSERT … SELECT FROM jsonb_to_recordset(:rows)`, the rows as one JSON text that
    the server parses, instead of an executemany/insertmanyvalues VALUES list whose
    thousands of placeholders psycopg parsed and filled in Python for each batch
    (that cost more than the insert itself); elsewhere an executemany. Chain
    `.on_conflict_do_nothing()` / `.returning()` and execute with `_insert_params`."""
    if not _postgres(session):
        return dialect_insert(session, model)
    table = model.__table__
    first = rows[0]
    keys = list(first)
    # A column with one value in every row (the department, the timestamps, the
    # status …) goes once as its own parameter, not a thousand times in the JSON.
    # JSON columns always travel per row: == would take {"a": 1} for {"a": true}.
    same = {k: first[k] for k in keys if not isinstance(table.c[k].type, JSON)
            and all(r[k] == first[k] for r in rows)}
    if len(same) == len(keys):  # the JSON rows must stay: they give the row count
        same = {}
    varying = [k for k in keys if k not in same]
    payload = json.dumps([{k: r[k] for k in varying} for r in rows], ensure_ascii=False,
                         separators=(",", ":"), default=_json_value)
    recordset = func.jsonb_to_recordset(cast(literal(payload), postgresql.JSONB)).table_valued(
        *(column(k, table.c[k].type) for k in varying)).render_derived(with_types=True)
    values = {**{k: recordset.c[k] for k in varying},
              **{k: literal(v, table.c[k].type) for k, v in same.items()}}
    return postgresql.insert(model).from_select(keys, select(*(values[k] for k in keys)))


def _json_value(value: Any) -> str:
    """Dates and timestamps in ISO form, which PostgreSQL reads back as date / timestamptz.
    Values in the JSON skip the column types' bind processing, so UTCDateTime's refusal
    of naive timestamps is repeated here."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        raise ValueError("naive datetime given to a timezone-aware column")
    if isinstance(value, dt.date):  # datetime too (a subclass), with its UTC offset
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} as JSON")


def _insert_params(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The parameters to execute an `_insert_rows` statement with (none on PostgreSQL:
    the rows are inside the statement's JSON parameter)."""
    return None if _postgres(session) else rows


def _subjects_by_hash(session: Session, cipher: DataCipher,
                      people: dict[str, tuple[str, str]]) -> dict[str, int]:
    """{id_hash: subject_id}, creating the subjects no department reported before."""
    hashes = list(people)
    found: dict[str, int] = {}
    for chunk in _chunks(session, hashes):
        found.update(session.connection().execute(
            select(Subject.id_hash, Subject.id).where(_among(session, Subject.id_hash, chunk))).all())
    missing = sorted(h for h in hashes if h not in found)  # one order: no deadlocks
    if missing:
        now = utcnow()
        rows = [{"id_hash": h, "id_number_enc": cipher.encrypt(people[h][0]),
                 "name_enc": cipher.encrypt(people[h][1]), "created_at": now} for h in missing]
        session.connection().execute(_insert_rows(session, Subject, rows).on_conflict_do_nothing(
            index_elements=["id_hash"]), _insert_params(session, rows))
        for chunk in _chunks(session, missing):
            found.update(session.connection().execute(
                select(Subject.id_hash, Subject.id).where(_among(session, Subject.id_hash, chunk))).all())
    return found


def _reference_names(session: Session, cipher: DataCipher, people: dict[str, tuple[str, str]],
                     subject_of: dict[str, int]) -> dict[int, str]:
    """{subject_id: the name records are compared with}: the name face verification
    confirmed, else the name departments reported (never one a resident typed). A
    subject with neither (its name was cleared) takes this batch's name as reported."""
    names: dict[int, str] = {}
    unnamed: list[int] = []
    for chunk in _chunks(session, sorted(set(subject_of.values()))):
        for subject_id, verified, reported in session.connection().execute(
                select(Subject.id, Subject.verified_name_enc, Subject.name_enc)
                .where(_among(session, Subject.id, chunk))):
            if verified or reported:
                names[subject_id] = cipher.decrypt(verified or reported)
            else:
                unnamed.append(subject_id)
    if unnamed:
        reported_by = {subject_of[h]: name for h, (_, name) in people.items()}
        for subject_id in unnamed:
            session.connection().execute(
                update(Subject).where(Subject.id == subject_id, Subject.name_enc.is_(None))
                .values(name_enc=cipher.encrypt(reported_by[subject_id])))
    return names


def ingest(session: Session, cipher: DataCipher, cache: redis.Redis | None,
           department: Department, records: list[Any], today: dt.date) -> dict[str, list]:
    """Check a department's batch, store or correct the records that pass, keep the
    batch and the rejected records' quality issues, tell the people of their new
    negative records, and recompute the points the batch changed."""
    rule_set = rule_store.active(session)
    # The records stored under these source_refs (locked): a resend is checked as the
    # correction it makes, with the fields it omits kept.
    existing = _existing(session, department.id, _resent_refs(records))
    checked = [check_one(i, raw, department, rule_set, today,
                         existing.get(raw.get("source_ref")) if isinstance(raw, dict) else None)
               for i, raw in enumerate(records)]
    _refuse_repeats(checked)
    subject_of = _resolve_subjects(session, cipher, checked)
    stored = _Stored(session, department, rule_set, today, utcnow())
    _store_or_correct(stored, [c for c in checked if not c.problems], subject_of, existing)
    rejected = [c for c in checked if c.problems]
    _keep_batch(stored, len(checked), rejected)
    # Art. 15: the person is told of each negative record when it is stored.
    notifications.send(session, stored.notices, today)
    if stored.touched:
        scoring.recompute_subjects(session, cache, stored.touched, today, scoring.Occasion(
            "record", explanation_changed=stored.explained,
            reason=N_("records reported by {department}").format(department=department.name)))
    return {
        "accepted": [entry for _, entry in sorted(stored.accepted, key=lambda a: a[0])],
        "rejected": [{"source_ref": c.source_ref, "index": c.index, "problems": c.problems}
                     for c in rejected],
    }


def _resent_refs(records: list[Any]) -> list[str]:
    """The source_refs of a batch that may name stored records, sorted (one locking order)."""
    return sorted({raw["source_ref"] for raw in records if isinstance(raw, dict)
                   and isinstance(raw.get("source_ref"), str)
                   and 0 < len(raw["source_ref"]) <= 100})


def _refuse_repeats(checked: list[Checked]) -> None:
    """A source_ref sent twice in one batch: its second and later records are refused."""
    seen: set[str] = set()
    for item in checked:
        if item.source_ref and not item.problems:
            if item.source_ref in seen:
                item.problem("validity", "source_ref", "appears twice in this batch")
            seen.add(item.source_ref)


def _resolve_subjects(session: Session, cipher: DataCipher,
                      checked: list[Checked]) -> dict[str, int]:
    """{id_hash: subject_id} for the records that passed the checks, creating the
    subjects no department reported before; a record whose name is not the subject's
    reference name is refused (accuracy)."""
    good = [c for c in checked if not c.problems]
    people: dict[str, tuple[str, str]] = {}
    for item in good:
        item.id_hash = cipher.lookup_hash(item.id_number)
        people[item.id_hash] = (item.id_number, item.name)
    if not people:
        return {}
    subject_of = _subjects_by_hash(session, cipher, people)
    known = _reference_names(session, cipher, people, subject_of)
    for item in good:
        subject_id = subject_of[item.id_hash]
        if subject_id in known and not same_name(known[subject_id], item.name):
            item.problem("accuracy", "subject.name",
                         "does not match the name bound to this ID number")
    return subject_of


@dataclass
class _Stored:
    """What storing a batch's records left: the answer's entries (each after its
    record's index in the batch), the subjects to recompute, those whose explanation may change
    with their points unmoved (a correction, or a new record that counts today: a
    capped category, a 0-point one), and the notices to send."""

    session: Session
    department: Department
    rule_set: RuleSet
    today: dt.date
    now: dt.datetime
    accepted: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    touched: set[int] = field(default_factory=set)
    explained: set[int] = field(default_factory=set)
    notices: list[notifications.Notice] = field(default_factory=list)

    def accept(self, item: Checked, record_id: int, result: str, late: bool) -> None:
        self.accepted.append((item.index, {"source_ref": item.source_ref,
                                           "record_id": record_id, "result": result,
                                           "late": late}))


def _store_or_correct(stored: _Stored, good: list[Checked], subject_of: dict[str, int],
                      existing: dict[str, CreditRecord]) -> None:
    """A resend corrects its stored record at once; the new records are stored together."""
    new = []
    for item in good:
        record = existing.get(item.source_ref)
        if record is None:
            new.append(item)
        else:
            _correct(stored, record, item, subject_of[item.id_hash])
    if new:
        _store_new(stored, new, subject_of)


def _correct(stored: _Stored, record: CreditRecord, item: Checked, subject_id: int) -> None:
    """A resend of a stored record: unchanged, or a correction (both the person it
    was about and the one it is about now are recomputed)."""
    old_subject = record.subject_id
    if record.status == "revoked" and not _same(record, item, subject_id):
        item.problem("validity", "source_ref", REVOKED)
        return
    result = _apply_correction(stored.session, record, item, subject_id,
                               content_hash(item, item.id_hash), stored.department, stored.now)
    if result == "updated":
        stored.touched.update({old_subject, subject_id})
        stored.explained.update({old_subject, subject_id})
        stored.notices.append(changed_notice(record, "corrected", stored.department.name,
                                             stored.rule_set))
    stored.accept(item, record.id, result, record.late)


def _store_new(stored: _Stored, items: list[Checked], subject_of: dict[str, int]) -> None:
    """One INSERT … RETURNING for the new records (one statement and parameter on
    PostgreSQL), no per-row round trip. A record a concurrent identical batch stored
    first is now a stored one: this batch's record is its resend."""
    session, department, now = stored.session, stored.department, stored.now
    rows = [{"subject_id": subject_of[item.id_hash], "department_id": department.id,
             "source_ref": item.source_ref, "type": item.type, **item.dates,
             "details": item.details, "content_hash": content_hash(item, item.id_hash),
             "status": "active", "disputed": False, "version": 1, "late": item.late,
             "received_at": now, "updated_at": now} for item in items]
    inserted = dict(session.connection().execute(
        _insert_rows(session, CreditRecord, rows).on_conflict_do_nothing(
            index_elements=["department_id", "source_ref"])
        .returning(CreditRecord.source_ref, CreditRecord.id),
        _insert_params(session, rows)).all())
    racers = _existing(session, department.id,
                       [i.source_ref for i in items if i.source_ref not in inserted])
    for item in items:
        subject_id = subject_of[item.id_hash]
        record_id = inserted.get(item.source_ref)
        if record_id is None:
            _correct(stored, racers[item.source_ref], item, subject_id)
            continue
        stored.touched.add(subject_id)
        if _counts(item, stored.rule_set, stored.today):
            stored.explained.add(subject_id)
        stored.accept(item, record_id, "created", item.late)
        notice = negative_notice(item, record_id, subject_id, department, stored.rule_set)
        if notice is not None:
            stored.notices.append(notice)


def _keep_batch(stored: _Stored, received: int, rejected: list[Checked]) -> None:
    """The batch's row, the open quality issues its accepted records fix resolved,
    and a quality issue for each rejected record."""
    session, department, now = stored.session, stored.department, stored.now
    batch = IngestBatch(department_id=department.id, received=received,
                        accepted=len(stored.accepted), rejected=len(rejected),
                        # a late record counts once, in the batch it first arrived in
                        late=sum(1 for _, a in stored.accepted
                                 if a["late"] and a["result"] == "created"),
                        received_at=now)
    session.add(batch)
    session.flush()
    _close_fixed_issues(session, department.id, [a["source_ref"] for _, a in stored.accepted],
                        batch.id, now)
    if rejected:
        session.execute(dialect_insert(session, QualityIssue), [{
            # An over-long source_ref is itself the problem reported; keep its start.
            "department_id": department.id, "batch_id": batch.id,
            "source_ref": c.source_ref[:100] if c.source_ref else None,
            "record_type": c.type, "problems": c.problems,
            "dimensions": sorted({p["dimension"] for p in c.problems}), "status": "open",
            "created_at": now} for c in rejected])


def negative_notice(item: Checked, record_id: int, subject_id: int, department: Department,
                    rule_set: RuleSet) -> notifications.Notice | None:
    """The notice of a newly stored negative record (《征信业管理条例》 Art. 15): its
    type, department, document number, and how to object or apply for repair."""
    resolved = rule_set.resolved_types.get(item.type)
    if resolved is None or resolved.kind != "negative":
        return None
    decided = item.dates.get("decided_on") or item.dates.get("occurred_on")
    document_no = (item.details or {}).get("document_no")
    return notifications.Notice(
        kind="record_negative", dedupe_key=f"record:{record_id}:negative", subject_id=subject_id,
        ref=("record", record_id), params={
            "record_id": record_id, "type": item.type, "title": resolved.type.title,
            "class": resolved.type.record_class, "department": department.name,
            "department_code": department.code,
            "document_no": str(document_no) if document_no not in (None, "") else None,
            "decided_on": decided.isoformat() if decided else None,
            "repairable": bool(resolved.type.repairable)})


def changed_notice(record: CreditRecord, change: str, department_name: str,
                   rule_set: RuleSet, **extra: Any) -> notifications.Notice:
    """The notice of a record corrected, ended, revoked or repaired."""
    resolved = rule_set.resolved_types.get(record.type)
    return notifications.Notice(
        kind="record_changed", dedupe_key=f"record:{record.id}:{change}:v{record.version}",
        subject_id=record.subject_id, ref=("record", record.id), params={
            "record_id": record.id, "change": change, "department": department_name,
            "title": resolved.type.title if resolved else record.type, **extra})


def _close_fixed_issues(session: Session, department_id: int, refs: list[str], batch_id: int,
                        now: dt.datetime) -> None:
    """A record accepted now fixes the open quality issues its earlier rejected sends
    left (the department corrected it at the source): they are resolved."""
    for chunk in _chunks(session, refs):
        session.connection().execute(
            update(QualityIssue)
            .where(QualityIssue.department_id == department_id, QualityIssue.status == "open",
                   _among(session, QualityIssue.source_ref, chunk))
            .values(status="resolved", resolved_at=now,
                    resolution_note=f"corrected by a resend accepted in batch {batch_id}"))


def _counts(item: Checked, rule_set: RuleSet, today: dt.date) -> bool:
    """Does this new record count today (is it in the points' explanation)?"""
    return engine.counts_on(engine.RecordFacts(
        id=None, type=item.type, occurred_on=item.dates["occurred_on"],
        decided_on=item.dates["decided_on"], ended_on=item.dates["ended_on"],
        details=item.details), rule_set, today)


def _existing(session: Session, department_id: int, refs: list[str]) -> dict[str, CreditRecord]:
    found: dict[str, CreditRecord] = {}
    for chunk in _chunks(session, refs):
        found.update({r.source_ref: r for r in session.execute(
            select(CreditRecord).where(CreditRecord.department_id == department_id,
                                       _among(session, CreditRecord.source_ref, chunk))
            .with_for_update(key_share=True)).scalars()})
    return found


def _same(record: CreditRecord, item: Checked, subject_id: int) -> bool:
    """Does the resend (its omitted fields kept) say what the record holds now? Compared
    with the record itself, not its stored digest: an end set through POST …/end is in
    the record, not in the digest of what was sent."""
    return (record.subject_id == subject_id and record.type == item.type
            and all(getattr(record, name) == item.dates[name] for name in DATE_FIELDS)
            and _CONTENT_ENCODER.encode(record.details or {})
            == _CONTENT_ENCODER.encode(item.details))


def _apply_correction(session: Session, record: CreditRecord, item: Checked, subject_id: int,
                      digest: str, department: Department, now: dt.datetime) -> str:
    if _same(record, item, subject_id):
        return "unchanged"
    session.add(RecordVersion(record_id=record.id, version=record.version, change="corrected",
                              snapshot=snapshot(record), changed_by=f"department:{department.code}",
                              changed_at=now))
    record.subject_id = subject_id
    record.type = item.type
    record.occurred_on = item.dates["occurred_on"]
    record.decided_on = item.dates["decided_on"]
    record.ended_on = item.dates["ended_on"]
    record.details = item.details
    record.content_hash = digest
    record.version += 1
    # Late or not is about when the record first reached the platform, not the correction.
    record.late = late(item.type, item.dates["decided_on"],
                       record.received_at.astimezone(SHANGHAI).date())
    record.updated_at = now
    return "updated"

