"""A clerk's batch uploads (`/console/dept/uploads…`): an .xlsx (template with Chinese
headers) or CSV file, ingested as a job through the API's ingestion, the rejected rows
shown with their problems and downloadable as Excel to fix and upload again."""
from __future__ import annotations

import re

from flask import Response, abort, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from api.console import bp
from api.console.auth import staff
from api.console.pages import DIMENSIONS, FIELDS, attempt, paged
from api.context import cipher, db_session
from points.infra.db import on_commit
from points.models import Job
from points.models.console import ConsoleUpload
from points.recordkeeping import batch_files

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The ingestion's problem messages, as a clerk reads them.
MESSAGES_ZH = [
    (re.compile(r"^is required.*"), "必填"),
    (re.compile(r"^must be a date YYYY-MM-DD$"), "须为日期，格式 YYYY-MM-DD"),
    (re.compile(r"^unknown record type (.*)$"), r"未知的记录类型 \1"),
    (re.compile(r"^department '(.*)' may not report (.*)$"), r"本部门（\1）无权报送 \2"),
    (re.compile(r"^is in the future$"), "不能晚于今天"),
    (re.compile(r"^is before occurred_on$"), "早于发生日期"),
    (re.compile(r"^appears twice in this batch$"), "在同一批中重复出现"),
    (re.compile(r"^does not match the name bound to this ID number$"), "与该身份证号登记的姓名不一致"),
    (re.compile(r"^must be an object$"), "须为 JSON 对象"),
    (re.compile(r"^at most 100 characters$"), "至多 100 个字符"),
    (re.compile(r"^the person is under 18.*"), "当事人未满 18 周岁，不建立个人信用记录"),
    (re.compile(r"^must be a name of at most 50 characters$"), "姓名至多 50 个字"),
    (re.compile(r"^unknown field$"), "无法识别的字段"),
    (re.compile(r"^the check digit is wrong$"), "校验码不对"),
    (re.compile(r"^an ID number has 18 characters$"), "身份证号应为 18 位"),
    (re.compile(r"^an ID number has 17 digits and a check digit.*"), "身份证号应为 17 位数字加一位校验码（0-9 或 X）"),
    (re.compile(r"^the birth date is not a real date$"), "出生日期不存在"),
    (re.compile(r"^the birth date is in the future$"), "出生日期晚于今天"),
]


def problem_zh(problem: dict) -> str:
    from points.i18n import translate_text

    message = problem.get("message", "")
    for pattern, zh in MESSAGES_ZH:
        if pattern.match(message):
            message = pattern.sub(zh, message)
            break
    else:
        message = translate_text(message)
    field = FIELDS.get(problem.get("field", ""), problem.get("field", ""))
    return f"[{DIMENSIONS.get(problem.get('dimension'), problem.get('dimension'))}] {field}：{message}"


def _upload(upload_id: int) -> ConsoleUpload:
    upload = db_session().get(ConsoleUpload, upload_id)
    if upload is None or upload.department_id != staff().department.id:
        abort(404)
    return upload


@bp.get("/dept/uploads")
def dept_uploads():
    page = paged(select(ConsoleUpload, Job).join(Job, Job.id == ConsoleUpload.job_id).where(
        ConsoleUpload.department_id == staff().department.id).order_by(ConsoleUpload.id.desc()),
        size=20, scalars=False)
    return render_template("console/dept/uploads.html", title="批量上报", page=page,
                           max_rows=batch_files.MAX_ROWS)


@bp.get("/dept/uploads/template.xlsx")
def dept_upload_template():
    return Response(batch_files.template_xlsx(), mimetype=XLSX, headers={
        "Content-Disposition": "attachment; filename=records-template.xlsx"})


@bp.post("/dept/uploads")
def dept_upload():
    file = request.files.get("file")
    if file is None or not file.filename:
        flash("未办理：请选择要上传的文件。")
        return redirect(url_for("console.dept_uploads"))
    data = file.read()
    made = {}

    def start():
        rows = batch_files.read_rows(file.filename, data)
        made["job"] = batch_files.start(db_session(), cipher(), staff().department,
                                        f"clerk:{staff().username}", file.filename, rows)

    if not attempt(start):
        return redirect(url_for("console.dept_uploads"))
    from api.jobs_runner import enqueue_console_job, run_console_upload

    job_id = made["job"].id
    on_commit(db_session(), lambda: enqueue_console_job(run_console_upload, job_id))
    upload_id = db_session().execute(select(ConsoleUpload.id).where(
        ConsoleUpload.job_id == job_id)).scalar_one()
    return redirect(url_for("console.dept_upload_result", upload_id=upload_id))


@bp.get("/dept/uploads/<int:upload_id>")
def dept_upload_result(upload_id):
    upload = _upload(upload_id)
    job = db_session().get(Job, upload.job_id)
    rejected = batch_files.rejected_rows(cipher(), upload) if job.status == "done" else []
    return render_template("console/dept/upload.html", title=f"上传结果：{upload.filename}",
                           upload=upload, job=job, rejected=rejected[:500],
                           rejected_count=len(rejected), problem_zh=problem_zh)


@bp.get("/dept/uploads/<int:upload_id>/progress")
def dept_upload_progress(upload_id):
    from api.console.pages import job_json

    return jsonify(job_json(db_session().get(Job, _upload(upload_id).job_id)))


@bp.get("/dept/uploads/<int:upload_id>/rejected.xlsx")
def dept_upload_rejected(upload_id):
    upload = _upload(upload_id)
    rows = batch_files.rejected_rows(cipher(), upload)
    return Response(batch_files.rejected_xlsx(rows, problem_zh), mimetype=XLSX, headers={
        "Content-Disposition": f"attachment; filename=rejected-{upload.id}.xlsx"})
