"""A department clerk's pages (`/console/dept/…`): the repairs and objections queues
and their decisions (one set of views serving both) with the evidence files cited, a
record by source_ref with its history, end and revoke, credit checks (逢办必查) and
their feedback, quality issues. Batch uploads:
api/console/uploads.py. Everything is the clerk's own department's; anything else is
404, and every action goes through the API's domain services and audit rows."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import ModuleType

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from api.console import bp
from api.console.auth import staff
from api.console.pages import attempt, paged
from api.context import cipher, db_session, redis_client
from points.employment import credit_checks
from points.errors import NotFound
from points.infra.db import today
from points.models import CreditRecord, QualityIssue, RecordVersion
from points.models.workers import CHECK_PURPOSES, FEEDBACK_ACTIONS, CreditCheck
from points.models.workflows import (
    COMMITMENT_STATUSES,
    OBJECTION_STATUSES,
    REPAIR_STATUSES,
    Commitment,
    Objection,
    RepairApplication,
)
from points.recordkeeping import records, subjects
from points.rules import rule_store
from points.workflows import attachments, commitments, objections, repairs

PURPOSES = {"administrative_license": "行政许可", "administrative_penalty": "行政处罚",
            "inspection": "日常监管检查", "financial_support": "财政资金支持",
            "government_procurement": "政府采购", "bidding": "招标投标",
            "land_transfer": "土地出让", "research_funding": "科研项目",
            "civil_service_hiring": "公务员招录", "commendation": "评优评先"}
ACTIONS = {"fast_track": "容缺受理/快速办理", "normal": "正常办理", "extra_review": "加强审查",
           "denied": "不予办理"}


def _department():
    return staff().department


def _mine(model, object_id: int):
    """One of this department's objects, or 404 (another department's is not found)."""
    row = db_session().get(model, object_id)
    if row is None or row.department_id != _department().id:
        abort(404)
    return row


@bp.get("/dept/")
def dept_home():
    s, d, day = db_session(), _department(), today()

    def count(stmt):
        return s.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()

    stats = {
        "repairs_open": count(repairs.department_list(d, repairs.OPEN, None, day)),
        "repairs_overdue": count(repairs.department_list(d, repairs.OPEN, True, day)),
        "objections_open": count(objections.department_list(d, objections.OPEN, None, day)),
        "objections_overdue": count(objections.department_list(d, objections.OPEN, True, day)),
        "issues_open": s.execute(select(func.count(QualityIssue.id)).where(
            QualityIssue.department_id == d.id, QualityIssue.status == "open")).scalar_one(),
        "feedback_missing": count(credit_checks.missing_feedback_stmt(day, d.id, overdue_only=False)),
        "feedback_overdue": count(credit_checks.missing_feedback_stmt(day, d.id)),
    }
    return render_template("console/dept/home.html", title="工作台", stats=stats)


# -- repairs and objections: one set of views for both -------------------------------

@dataclass(frozen=True)
class CaseKind:
    """What differs between the repairs and the objections queues: the domain module
    (department_list, view, decide, OPEN), the model, its statuses and the texts."""

    name: str  # repair | objection: the template's kind and the endpoints' suffix
    plural: str  # the URL part and the queue's endpoint
    domain: ModuleType
    model: type
    statuses: tuple[str, ...]
    title: str
    status_choices: tuple[tuple[str, str], ...]  # the queue's filter: (status, label)
    summary: tuple[str, str]  # the queue's column: (label, view key)
    facts: tuple[tuple[str, str], ...]  # the case page's texts: (label, view key)
    choices: tuple[tuple[str, str], tuple[str, str]]  # (value, label): yes first, then no
    done: tuple[str, str]  # what the clerk is told after yes, after no

    @property
    def id_arg(self) -> str:
        return f"{self.name}_id"

    def url(self, what: str, case_id: int | None = None) -> str:
        """list, case or decision"""
        if what == "list":
            return url_for(f"console.dept_{self.plural}")
        endpoint = f"console.dept_{self.name}" if what == "case" else f"console.dept_decide_{self.name}"
        return url_for(endpoint, **{self.id_arg: case_id})


REPAIRS = CaseKind(
    "repair", "repairs", repairs, RepairApplication, REPAIR_STATUSES, "信用修复申请",
    (("submitted", "待处理"), ("approved", "已通过"), ("rejected", "未通过"),
     ("withdrawn", "已撤回"), ("", "全部")),
    ("申请理由", "statement"), (("情况说明", "statement"), ("信用承诺", "commitment")),
    (("approve", "通过修复（记录不再扣分，积分立即重算）"), ("reject", "不予修复（须写明理由）")),
    ("已通过修复申请，当事人的积分已重新计算。", "已决定不予修复，当事人会收到理由。"))
OBJECTIONS = CaseKind(
    "objection", "objections", objections, Objection, OBJECTION_STATUSES, "异议申请",
    (("pending", "待处理"), ("upheld", "异议成立"), ("rejected", "未采纳"), ("", "全部")),
    ("异议理由", "reason"), (("异议理由", "reason"),),
    (("uphold", "异议成立（撤销该记录）"), ("reject", "异议不成立（须写明理由）")),
    ("异议成立，记录已撤销。", "已决定异议不成立，当事人会收到理由。"))


def _case_views(kind: CaseKind, rows) -> list[dict]:
    """The cases as shown: the domain's view, the person's masked name, the evidence
    files cited."""
    session, day = db_session(), today()
    names = masked_names(r.subject_id for r in rows)
    cited = attachments.of_cases(session, kind.name, [r.id for r in rows])
    return [{**kind.domain.view(session, r, day), "name_masked": names.get(r.subject_id, "*"),
             "attachments": cited[r.id], "open": r.status == kind.domain.OPEN} for r in rows]


def _register_case_views(kind: CaseKind) -> None:
    def queue():
        status = request.args.get("status", kind.domain.OPEN) or None
        if status not in {None, *kind.statuses}:
            status = kind.domain.OPEN
        overdue = {"1": True, "0": False}.get(request.args.get("overdue", ""))
        page = paged(kind.domain.department_list(_department(), status, overdue, today()))
        return render_template("console/dept/queue.html", title=kind.title, kind=kind,
                               page=page, items=_case_views(kind, page.items),
                               status=status or "", overdue=request.args.get("overdue", ""))

    def case(**ids):
        case_id = ids[kind.id_arg]
        return render_template("console/dept/case.html", title=f"{kind.title} {case_id}",
                               kind=kind, item=_case_views(kind, [_mine(kind.model, case_id)])[0])

    def decision(**ids):
        case_id = ids[kind.id_arg]
        _mine(kind.model, case_id)
        yes = request.form.get("decision") == kind.choices[0][0]
        attempt(lambda: kind.domain.decide(db_session(), redis_client(), _department(), case_id,
                                           yes, request.form.get("note", "")[:1000], today()),
                kind.done[0] if yes else kind.done[1])
        return redirect(kind.url("case", case_id))

    rule = f"/dept/{kind.plural}"
    bp.add_url_rule(rule, f"dept_{kind.plural}", queue, methods=["GET"])
    bp.add_url_rule(f"{rule}/<int:{kind.id_arg}>", f"dept_{kind.name}", case, methods=["GET"])
    bp.add_url_rule(f"{rule}/<int:{kind.id_arg}>/decision", f"dept_decide_{kind.name}",
                    decision, methods=["POST"])


for _kind in (REPAIRS, OBJECTIONS):
    _register_case_views(_kind)


@bp.get("/dept/attachments/<int:attachment_id>")
def dept_attachment(attachment_id):
    """An evidence file cited by one of this department's cases, as the API sends it
    (GET /v1/dept/attachments/{id}); any other: 404."""
    from api.downloads import send_attachment

    try:
        attachment = attachments.for_department(db_session(), _department(), attachment_id)
    except NotFound:
        abort(404)
    return send_attachment(attachment)


# -- a record by source_ref -----------------------------------------------------------

@bp.get("/dept/records")
def dept_record():
    source_ref = (request.args.get("source_ref") or "").strip()[:100]
    found = history = None
    if source_ref:
        record = db_session().execute(select(CreditRecord).where(
            CreditRecord.department_id == _department().id,
            CreditRecord.source_ref == source_ref)).scalar_one_or_none()
        if record is None:
            return render_template("console/dept/record.html", title="记录查询",
                                   source_ref=source_ref, missing=True), 404
        found = records.view(record, rule_store.active(db_session()), today())
        found["source_ref"] = record.source_ref
        found["name_masked"] = masked_names([record.subject_id]).get(record.subject_id, "*")
        found["revoked_reason"] = record.revoked_reason
        history = db_session().execute(select(RecordVersion).where(
            RecordVersion.record_id == record.id).order_by(RecordVersion.version.desc())
        ).scalars().all()
    return render_template("console/dept/record.html", title="记录查询", source_ref=source_ref,
                           record=found, history=history)


@bp.post("/dept/records/end")
def dept_end_record():
    source_ref = request.form.get("source_ref", "")[:100]
    try:
        ended_on = dt.date.fromisoformat(request.form.get("ended_on", ""))
    except ValueError:
        ended_on = None
    if ended_on is None:
        flash("未办理：请填写终止日期。")
    else:
        attempt(lambda: records.end_record(db_session(), redis_client(), _department(),
                                           source_ref, ended_on, today()),
                f"记录 {source_ref} 已于 {ended_on} 终止计分。")
    return redirect(url_for("console.dept_record", source_ref=source_ref))


@bp.post("/dept/records/revoke")
def dept_revoke_record():
    source_ref = request.form.get("source_ref", "")[:100]
    reason = (request.form.get("reason") or "").strip()[:500]
    if not reason:
        flash("未办理：撤销须写明理由。")
    else:
        attempt(lambda: records.revoke_record(db_session(), redis_client(), _department(),
                                              source_ref, reason, today()),
                f"记录 {source_ref} 已撤销，不再计分。")
    return redirect(url_for("console.dept_record", source_ref=source_ref))


# -- credit checks (逢办必查) ------------------------------------------------------------

@bp.get("/dept/credit-checks")
def dept_checks():
    stmt = select(CreditCheck).where(CreditCheck.department_id == _department().id)
    if request.args.get("missing") == "1":
        stmt = credit_checks.missing_feedback_stmt(today(), _department().id, overdue_only=False)
    page = paged(stmt.order_by(None).order_by(CreditCheck.id.desc()))
    due = {c.id: credit_checks.feedback_due_on(c.checked_on) for c in page.items}
    return render_template("console/dept/checks.html", title="逢办必查", page=page, due=due,
                           purposes=PURPOSES, actions=ACTIONS, today=today(),
                           missing=request.args.get("missing", ""))


@bp.post("/dept/credit-checks")
def dept_run_check():
    form = request.form
    purpose = form.get("purpose", "")
    matter_ref = (form.get("matter_ref") or "").strip()[:100]
    if purpose not in CHECK_PURPOSES or not matter_ref:
        flash("未办理：请选择查询事由并填写办件编号。")
        return redirect(url_for("console.dept_checks"))
    made = {}

    def run():
        made["check"], _ = credit_checks.run_check(
            db_session(), cipher(), redis_client(), _department(),
            (form.get("id_number") or "")[:40], (form.get("name") or "")[:50], purpose,
            matter_ref, today(), current_app.config.get("OCCUPATION_DEPARTMENTS"))

    if not attempt(run):
        return redirect(url_for("console.dept_checks"))
    return redirect(url_for("console.dept_check", check_id=made["check"].id))


@bp.get("/dept/credit-checks/<int:check_id>")
def dept_check(check_id):
    check = _mine(CreditCheck, check_id)
    return render_template("console/dept/check.html", title=f"信用核查 {check_id}", check=check,
                           due=credit_checks.feedback_due_on(check.checked_on), today=today(),
                           purposes=PURPOSES, actions=ACTIONS)


@bp.post("/dept/credit-checks/<int:check_id>/feedback")
def dept_check_feedback(check_id):
    _mine(CreditCheck, check_id)
    action = request.form.get("action", "")
    if action not in FEEDBACK_ACTIONS:
        flash("未办理：请选择核查结果的使用方式。")
    else:
        attempt(lambda: credit_checks.give_feedback(db_session(), _department(), check_id,
                                                    action, request.form.get("note", "")[:500]),
                "反馈已记录。")
    return redirect(url_for("console.dept_check", check_id=check_id))


# -- quality issues -------------------------------------------------------------------

@bp.get("/dept/quality-issues")
def dept_issues():
    status = request.args.get("status", "open")
    stmt = select(QualityIssue).where(QualityIssue.department_id == _department().id)
    if status in {"open", "resolved"}:
        stmt = stmt.where(QualityIssue.status == status)
    page = paged(stmt.order_by(QualityIssue.id.desc()))
    return render_template("console/dept/issues.html", title="数据质量问题", page=page,
                           status=status)


# -- commitments made in this department's matters -----------------------------------

COMMITMENT_KINDS_ZH = {"voluntary": "自愿承诺", "industry": "行业承诺",
                       "approval_substitute": "告知承诺（替代审批）",
                       "missing_materials": "容缺受理（补交材料）", "repair": "信用修复承诺"}


@bp.get("/dept/commitments")
def dept_commitments():
    status = request.args.get("status", "active")
    if status not in {"", *COMMITMENT_STATUSES}:
        status = "active"
    overdue = {"1": True, "0": False}.get(request.args.get("overdue", ""))
    page = paged(commitments.department_list(_department(), status or None, overdue, today()))
    names = masked_names(c.subject_id for c in page.items)
    items = []
    for row in page.items:
        item = commitments.view(row, today())
        item["name_masked"] = names.get(row.subject_id, "*")
        items.append(item)
    return render_template("console/dept/commitments.html", title="信用承诺", page=page,
                           items=items, status=status, overdue=request.args.get("overdue", ""),
                           kinds=COMMITMENT_KINDS_ZH)


@bp.post("/dept/commitments/<int:commitment_id>/outcome")
def dept_commitment_outcome(commitment_id):
    _mine(Commitment, commitment_id)
    outcome = request.form.get("outcome", "")
    if outcome not in {"fulfilled", "breached"}:
        flash("未办理：请选择履约或违约。")
    else:
        attempt(lambda: commitments.record_outcome(
            db_session(), cipher(), redis_client(), _department(), commitment_id, outcome,
            request.form.get("serious") == "1", today()),
            "已记录履约情况。" if outcome == "fulfilled" else "已记录违约，当事人的积分已重新计算。")
    return redirect(url_for("console.dept_commitments", status=""))


@bp.post("/dept/quality-issues/<int:issue_id>/resolve")
def dept_resolve_issue(issue_id):
    issue = _mine(QualityIssue, issue_id)
    if issue.status == "resolved":
        flash("未办理：这个问题已经解决了。")
    else:
        from points.infra.db import utcnow

        note = (request.form.get("note") or "").strip()[:500] or None
        issue.status, issue.resolved_at, issue.resolution_note = "resolved", utcnow(), note
        flash("已标记为解决。")
    return redirect(url_for("console.dept_issues"))


def masked_names(subject_ids) -> dict[int, str]:
    return subjects.masked_names(db_session(), cipher(), subject_ids)
