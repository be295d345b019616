"""The credit office's tools (`/console/office/…`): rule-set versions (upload, diff,
preview as a job, activate with a progress bar fed by the recompute job, roll back),
the year's holiday arrangement, the quality report and department assessment (with
CSV and Excel downloads), and the audit log."""
from __future__ import annotations

import csv
import datetime as dt
import io

from flask import Response, abort, flash, jsonify, redirect, render_template, request, url_for
from openpyxl import Workbook
from sqlalchemy import select

from api.console import bp, charts
from api.console.auth import staff
from api.console.pages import attempt, job_json, paged, refusal
from api.context import db_session
from points.errors import DomainError
from points.infra.db import on_commit, today
from points.models import AuditEntry, Job, RuleSetVersion
from points.office import assessment, calendar
from points.office.assessment import csv_cell
from points.recordkeeping import quality
from points.rules import rule_admin, rule_preview, rule_store

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
JOB_KINDS = {"rule_set_recompute", "rule_set_preview", "recompute_split"}


# -- rule sets --------------------------------------------------------------------------

@bp.get("/office/rule-sets")
def office_rule_sets():
    s = db_session()
    rule_store.ensure_default(s)
    versions = s.execute(select(RuleSetVersion).order_by(RuleSetVersion.id.desc())).scalars().all()
    running = s.execute(select(Job).where(Job.kind == "rule_set_recompute")
                        .order_by(Job.created_at.desc()).limit(1)).scalar_one_or_none()
    return render_template("console/office/rule_sets.html", title="规则版本", versions=versions,
                           last_job=running)


@bp.post("/office/rule-sets")
def office_upload_rule_set():
    file = request.files.get("file")
    source = file.read().decode("utf-8", errors="replace") if file and file.filename else \
        request.form.get("content", "")
    if not source.strip():
        flash("未办理：请选择 TOML 文件或粘贴规则内容。")
        return redirect(url_for("console.office_rule_sets"))
    try:
        version = rule_admin.upload(db_session(), source, staff().actor)
    except DomainError as error:
        db_session().rollback()
        problems = (getattr(error, "errors", None) or {}).get("rules")
        if not problems:
            flash("未办理：" + refusal(error))
            return redirect(url_for("console.office_rule_sets"))
        versions = db_session().execute(select(RuleSetVersion).order_by(
            RuleSetVersion.id.desc())).scalars().all()
        return render_template("console/office/rule_sets.html", title="规则版本",
                               versions=versions, problems=problems, source=source), 422
    flash(f"规则版本 {version.code} 已上传，尚未启用。请先查看差异并预览影响。")
    return redirect(url_for("console.office_rule_set", code=version.code))


def _version(code: str) -> RuleSetVersion:
    version = db_session().execute(select(RuleSetVersion).where(RuleSetVersion.code == code)) \
        .scalar_one_or_none()
    if version is None:
        abort(404)
    return version


@bp.get("/office/rule-sets/<code>")
def office_rule_set(code):
    s = db_session()
    version = _version(code)
    active = rule_store.active(s)
    candidate = rule_store.by_code(s, code)
    preview = s.execute(select(Job).where(Job.kind == "rule_set_preview").order_by(
        Job.created_at.desc())).scalars()
    preview = next((j for j in preview if j.params.get("rule_set") == code), None)
    return render_template("console/office/rule_set.html", title=f"规则版本 {code}",
                           version=version, active=active, candidate=candidate,
                           diff=rule_preview.diff(active, candidate), preview=preview)


@bp.post("/office/rule-sets/<code>/preview")
def office_preview_rule_set(code):
    _version(code)
    from api.jobs_runner import enqueue_console_job, run_rule_set_preview

    job = rule_preview.start(db_session(), code, staff().actor)
    job_id = job.id
    on_commit(db_session(), lambda: enqueue_console_job(run_rule_set_preview, job_id))
    return redirect(url_for("console.office_rule_set", code=code))


@bp.post("/office/rule-sets/<code>/activate")
def office_activate_rule_set(code):
    _version(code)
    from api.jobs_runner import enqueue_rule_set_job

    job = rule_admin.activate(db_session(), code, staff().actor)
    job_id = job.id
    on_commit(db_session(), lambda: enqueue_rule_set_job(job_id))
    return redirect(url_for("console.office_job", job_id=job_id))


@bp.get("/office/jobs/<job_id>")
def office_job(job_id):
    job = db_session().get(Job, job_id[:36])
    if job is None or job.kind not in JOB_KINDS:
        abort(404)
    if request.accept_mimetypes.best == "application/json":
        return jsonify(job_json(job))
    return render_template("console/office/job.html", title="后台任务", job=job)


@bp.get("/office/jobs/<job_id>/progress")
def office_job_progress(job_id):
    job = db_session().get(Job, job_id[:36])
    if job is None or job.kind not in JOB_KINDS:
        abort(404)
    return jsonify(job_json(job))


# -- the holiday calendar ---------------------------------------------------------------

def _year() -> int:
    raw = request.args.get("year", "") or request.form.get("year", "")
    year = int(raw) if raw.isascii() and raw.isdigit() else today().year
    return min(max(year, calendar.FIRST_YEAR), calendar.LAST_YEAR)


def _dates(text: str) -> list[dt.date]:
    out = []
    for token in text.replace("，", ",").replace(",", "\n").split():
        out.append(dt.date.fromisoformat(token.strip()))
    return out


@bp.get("/office/calendar")
def office_calendar():
    year = _year()
    view = calendar.view(db_session(), year)
    months = {}
    for day in view["days"]:
        months.setdefault(day["date"].month, []).append(day)
    return render_template("console/office/calendar.html", title=f"{year} 年节假日安排",
                           year=year, view=view, months=months)


@bp.post("/office/calendar")
def office_enter_calendar():
    year = _year()
    try:
        holidays, workdays = _dates(request.form.get("holidays", "")), \
            _dates(request.form.get("workdays", ""))
    except ValueError:
        flash("未办理：日期须写成 YYYY-MM-DD，每行一个。")
        return redirect(url_for("console.office_calendar", year=year))
    result = {}

    def enter():
        result["view"] = calendar.enter(db_session(), year, holidays, workdays, staff().actor)

    if attempt(enter):
        moved = result["view"].get("deadlines_moved", {})
        flash(f"{year} 年的安排已保存；按新安排重算了 {moved.get('repairs', 0)} 个修复和 "
              f"{moved.get('objections', 0)} 个异议的决定期限。")
    return redirect(url_for("console.office_calendar", year=year))


# -- quality report and assessment ------------------------------------------------------

QUALITY_COLUMNS = [("department", "部门编码"), ("name", "部门"), ("received", "收到"),
                   ("accepted", "入库"), ("rejected", "退回"), ("late", "迟报"),
                   ("late_share", "迟报比例"), ("open_issues", "未解决问题"),
                   ("oldest_open_issue_days", "最久未解决(天)")]
ASSESSMENT_ZH = {
    "department": "部门编码", "name": "部门", "records_received": "收到记录",
    "records_accepted": "入库记录", "records_rejected": "退回记录", "acceptance_rate": "入库率",
    "late_share": "迟报比例", "open_quality_issues": "未解决质量问题",
    "repairs_decided": "修复已决定", "repairs_decided_on_time": "修复按期决定",
    "repairs_overdue": "修复逾期", "objections_decided": "异议已决定",
    "objections_decided_on_time": "异议按期决定", "objections_overdue": "异议逾期",
    "credit_checks": "信用核查", "credit_checks_with_feedback": "已反馈核查",
    "credit_checks_feedback_overdue": "反馈逾期核查",
}


def _period() -> tuple[dt.date | None, dt.date | None]:
    def parse(name):
        try:
            return dt.date.fromisoformat(request.args.get(name, ""))
        except ValueError:
            return None
    return parse("from"), parse("to")


def _download(columns: list[tuple[str, str]], rows: list[dict], name: str, kind: str):
    if kind == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([zh for _, zh in columns])
        for row in rows:
            writer.writerow([csv_cell(row.get(key)) for key, _ in columns])
        return Response("\ufeff" + buffer.getvalue(), mimetype="text/csv", headers={
            "Content-Disposition": f"attachment; filename={name}.csv"})
    book = Workbook()
    sheet = book.active
    sheet.append([zh for _, zh in columns])
    for row in rows:
        sheet.append([row.get(key) for key, _ in columns])
        for cell in sheet[sheet.max_row]:
            if cell.data_type == "f":
                cell.data_type = "s"
    out = io.BytesIO()
    book.save(out)
    return Response(out.getvalue(), mimetype=XLSX, headers={
        "Content-Disposition": f"attachment; filename={name}.xlsx"})


@bp.get("/office/quality")
def office_quality():
    start, end = _period()
    s = db_session()
    report = quality.quality_report(s, start, end)
    rows = assessment.assessment(s, start, end, today())
    kind = request.args.get("download", "")
    if kind in {"csv", "xlsx"}:
        if request.args.get("table") == "quality":
            return _download(QUALITY_COLUMNS, report, "quality", kind)
        return _download(list(ASSESSMENT_ZH.items()), rows, "assessment", kind)
    chart = charts.bars([(r["name"], r["received"]) for r in report], "各部门收到的记录数")
    rejected = charts.bars([(r["name"], r["rejected"]) for r in report], "各部门被退回的记录数")
    return render_template("console/office/quality.html", title="数据质量与考核",
                           report=report, rows=rows, chart=chart, rejected_chart=rejected,
                           start=start, end=end, columns=ASSESSMENT_ZH)


# -- the audit log ------------------------------------------------------------------------

@bp.get("/office/audit")
def office_audit():
    stmt = select(AuditEntry)
    filters = {k: (request.args.get(k) or "").strip()[:80] for k in
               ("actor", "action", "target_type", "target_id")}
    for key, value in filters.items():
        if value:
            column = getattr(AuditEntry, key)
            stmt = stmt.where(column.startswith(value) if key == "action" else column == value)
    start, end = _period()
    if start:
        stmt = stmt.where(AuditEntry.at >= dt.datetime.combine(start, dt.time(), dt.UTC))
    if end:
        stmt = stmt.where(AuditEntry.at < dt.datetime.combine(end + dt.timedelta(days=1),
                                                               dt.time(), dt.UTC))
    page = paged(stmt.order_by(AuditEntry.id.desc()))
    return render_template("console/office/audit.html", title="审计日志", page=page,
                           filters=filters, start=start, end=end)
