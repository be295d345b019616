"""A department clerk's pages (`/console/dept/…`): the repairs and objections queues
and their decisions, a record by source_ref with its history, end and revoke, credit
checks (逢办必查) and their feedback, quality issues. Batch uploads:
api/console/uploads.py. Everything is the clerk's own department's; anything else is
404, and every action goes through the API's domain services and audit rows."""
from __future__ import annotations

import datetime as dt

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from api.console import bp
from api.console.auth import staff
from api.console.pages import attempt, paged
from api.context import cipher, db_session, redis_client
from api.routes.workflows import _masked_names
from points.employment import credit_checks
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
from points.recordkeeping import records
from points.rules import rule_store
from points.workflows import commitments, objections, repairs

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


# -- repairs and objections -----------------------------------------------------------

def _queue_args(open_status: str) -> tuple[str | None, bool | None]:
    status = request.args.get("status", open_status) or None
    overdue = {"1": True, "0": False}.get(request.args.get("overdue", ""))
    return status, overdue


@bp.get("/dept/repairs")
def dept_repairs():
    status, overdue = _queue_args(repairs.OPEN)
    if status not in {None, *REPAIR_STATUSES}:
        status = repairs.OPEN
    page = paged(repairs.department_list(_department(), status, overdue, today()))
    views = [repairs.view(db_session(), r, today()) for r in page.items]
    names = _masked_names(r.subject_id for r in page.items)
    for item, row in zip(views, page.items, strict=True):
        item["name_masked"] = names.get(row.subject_id, "*")
    return render_template("console/dept/queue.html", title="信用修复申请", kind="repair",
                           page=page, items=views, status=status or "",
                           overdue=request.args.get("overdue", ""))


@bp.get("/dept/repairs/<int:repair_id>")
def dept_repair(repair_id):
    application = _mine(RepairApplication, repair_id)
    item = repairs.view(db_session(), application, today())
    item["open"] = application.status == repairs.OPEN
    item["name_masked"] = _masked_names([application.subject_id]).get(application.subject_id, "*")
    return render_template("console/dept/case.html", title=f"信用修复申请 {repair_id}",
                           kind="repair", item=item)


@bp.post("/dept/repairs/<int:repair_id>/decision")
def dept_decide_repair(repair_id):
    _mine(RepairApplication, repair_id)
    approve = request.form.get("decision") == "approve"
    attempt(lambda: repairs.decide(db_session(), redis_client(), _department(), repair_id,
                                   approve, request.form.get("note", "")[:1000], today()),
            "已通过修复申请，当事人的积分已重新计算。" if approve else "已决定不予修复，当事人会收到理由。")
    return redirect(url_for("console.dept_repair", repair_id=repair_id))


@bp.get("/dept/objections")
def dept_objections():
    status, overdue = _queue_args(objections.OPEN)
    if status not in {None, *OBJECTION_STATUSES}:
        status = objections.OPEN
    page = paged(objections.department_list(_department(), status, overdue, today()))
    views = [objections.view(db_session(), r, today()) for r in page.items]
    names = _masked_names(r.subject_id for r in page.items)
    for item, row in zip(views, page.items, strict=True):
        item["name_masked"] = names.get(row.subject_id, "*")
    return render_template("console/dept/queue.html", title="异议申请", kind="objection",
                           page=page, items=views, status=status or "",
                           overdue=request.args.get("overdue", ""))


@bp.get("/dept/objections/<int:objection_id>")
def dept_objection(objection_id):
    objection = _mine(Objection, objection_id)
    item = objections.view(db_session(), objection, today())
    item["open"] = objection.status == objections.OPEN
    item["name_masked"] = _masked_names([objection.subject_id]).get(objection.subject_id, "*")
    return render_template("console/dept/case.html", title=f"异议申请 {objection_id}",
                           kind="objection", item=item)


@bp.post("/dept/objections/<int:objection_id>/decision")
def dept_decide_objection(objection_id):
    _mine(Objection, objection_id)
    upheld = request.form.get("decision") == "uphold"
    attempt(lambda: objections.decide(db_session(), redis_client(), _department(), objection_id,
                                      upheld, request.form.get("note", "")[:1000], today()),
            "异议成立，记录已撤销。" if upheld else "已决定异议不成立，当事人会收到理由。")
    return redirect(url_for("console.dept_objection", objection_id=objection_id))


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
        found["name_masked"] = _masked_names([record.subject_id]).get(record.subject_id, "*")
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
    names = _masked_names(c.subject_id for c in page.items)
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
