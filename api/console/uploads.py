"""A clerk's batch uploads (`/console/dept/uploads…`): an .xlsx (template with Chinese
headers) or CSV file, ingested as a job through the API's ingestion, the rejected rows
shown with their problems and downloadable as Excel to fix and upload again."""
from __future__ import annotations

from flask import Response, abort, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from api.console import bp
from api.console.auth import staff
from api.console.pages import DIMENSIONS, FIELDS, attempt, paged
from api.context import cipher, db_session
from points.i18n import translate_text
from points.infra.db import on_commit
from points.models import Job
from points.models.console import ConsoleUpload
from points.recordkeeping import batch_files

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def problem_zh(problem: dict) -> str:
    """A problem of a rejected row as a clerk reads it: its dimension and field named in
    Chinese, its message in the reader's language (points.recordkeeping.problem_messages)."""
    field = FIELDS.get(problem.get("field", ""), problem.get("field", ""))
    return (f"[{DIMENSIONS.get(problem.get('dimension'), problem.get('dimension'))}] {field}："
            f"{translate_text(problem.get('message', ''))}")


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
    rows = [(item["row"], "；".join(problem_zh(p) for p in item["problems"]))
            for item in batch_files.rejected_rows(cipher(), upload)]
    return Response(batch_files.rejected_xlsx(rows), mimetype=XLSX, headers={
        "Content-Disposition": f"attachment; filename=rejected-{upload.id}.xlsx"})
