"""Batches uploaded as files (Excel .xlsx or CSV) by a clerk in the console: the
template with Chinese headers, reading rows into the records the ingestion takes,
the ingestion job (chunks of ingestion.MAX_BATCH, one transaction each, progress on
the job row), and the rejected rows written back as Excel to fix and upload again."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from collections.abc import Callable
from typing import Any

import redis
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill
from sqlalchemy.orm import Session

from points.errors import Invalid
from points.i18n import gettext
from points.infra.crypto import DataCipher
from points.infra.db import utcnow
from points.models import Department, Job
from points.models.console import ConsoleUpload
from points.recordkeeping import ingestion
from points.scores import jobs

# (record field, the header clerks see). Headers are matched in Chinese or English.
COLUMNS = (
    ("source_ref", "业务编号"), ("name", "姓名"), ("id_number", "身份证号"),
    ("type", "记录类型"), ("occurred_on", "发生日期"), ("decided_on", "决定日期"),
    ("ended_on", "终止日期"), ("details", "详情(JSON)"),
)
PROBLEMS_HEADER = "问题（改正后删除本列亦可）"
MAX_ROWS = 50_000
EXAMPLE = ("XK-2026-0001", "张三", "430104199001011237", "admin.penalty.general", "",
           "2026-11-20", "", "")
_HEADER_KEYS = {**{zh: key for key, zh in COLUMNS}, **{key: key for key, _ in COLUMNS},
                "详情": "details", "subject.name": "name", "subject.id_number": "id_number"}


def _sheet(rows: list[list[Any]], title: str) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
        # Text stays text: a cell starting with '=' is stored as a string, never a formula.
        for cell in sheet[sheet.max_row]:
            if cell.data_type == "f":
                cell.data_type = "s"
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="EEF2F7")
    for column, width in zip("ABCDEFGHI", (18, 10, 22, 26, 12, 12, 12, 24, 60), strict=False):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def template_xlsx() -> bytes:
    return _sheet([[zh for _, zh in COLUMNS], list(EXAMPLE)], "记录")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_rows(filename: str, data: bytes) -> list[dict[str, str]]:
    """The file's rows as {field: text}; refused (Invalid) when it is neither a
    readable .xlsx nor a CSV, lacks the headers, or holds more than MAX_ROWS rows."""
    name = filename.lower()
    if name.endswith(".xlsx"):
        try:
            sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
            table = [[_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        except Exception as exc:
            raise Invalid(gettext("this Excel file cannot be read; save it as .xlsx from the "
                                  "template and upload it again"), "UNREADABLE_FILE") from exc
    elif name.endswith(".csv"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("gb18030", errors="replace")  # Excel's CSV on Chinese Windows
        table = [[c.strip() for c in row] for row in csv.reader(io.StringIO(text))]
    else:
        raise Invalid(gettext("upload an .xlsx or a .csv file"), "UNSUPPORTED_BATCH_FILE")
    table = [row for row in table if any(row)]
    if not table:
        raise Invalid(gettext("the file is empty"), "EMPTY_FILE")
    header = [_HEADER_KEYS.get(h.strip()) for h in table[0]]
    missing = [zh for key, zh in COLUMNS[:4] if key not in header]
    if missing:
        raise Invalid(gettext("the first row must be the headers; missing: {headers}",
                              headers="、".join(missing)), "MISSING_HEADERS")
    if len(table) - 1 > MAX_ROWS:
        raise Invalid(gettext("a file holds at most {count} rows; split it and upload the parts",
                              count=MAX_ROWS), "TOO_MANY_ROWS")
    rows = []
    for values in table[1:]:
        rows.append({key: (values[i] if i < len(values) else "")
                     for i, key in enumerate(header) if key})
    return rows


def to_record(row: dict[str, str]) -> dict[str, Any]:
    """A row as the record the API takes; empty cells are omitted fields."""
    record: dict[str, Any] = {"source_ref": row.get("source_ref") or None,
                              "subject": {"id_number": row.get("id_number") or None,
                                          "name": row.get("name") or None},
                              "type": row.get("type") or None}
    for name in ingestion.DATE_FIELDS:
        if row.get(name):
            record[name] = row[name]
    if row.get("details"):
        try:
            record["details"] = json.loads(row["details"])
        except ValueError:
            record["details"] = row["details"]  # refused by the checks: must be an object
    return record


def start(session: Session, cipher: DataCipher, department: Department, uploaded_by: str,
          filename: str, rows: list[dict[str, str]]) -> Job:
    """Keep the rows (encrypted) and create the job that ingests them."""
    job = Job(id=str(uuid.uuid4()), kind="console_upload", status="queued",
              params={"department": department.code, "filename": filename[:200]},
              total=len(rows), done=0, changed=0, errors=[], created_by=uploaded_by,
              created_at=utcnow())
    session.add(job)
    session.flush()
    session.add(ConsoleUpload(job_id=job.id, department_id=department.id,
                              uploaded_by=uploaded_by, filename=filename[:200], rows=len(rows),
                              payload_enc=cipher.encrypt(json.dumps(rows, ensure_ascii=False)),
                              created_at=utcnow()))
    return job


def run(session_factory: Callable[[], Session], cipher: DataCipher, cache: redis.Redis | None,
        job_id: str, today: dt.date) -> None:
    """Ingest an uploaded file's rows (RQ job body): each chunk is one transaction
    through the same ingestion (and quality issues) as POST /v1/dept/records."""
    with session_factory() as session, session.begin():
        job = session.get(Job, job_id, with_for_update=True)
        if job is None or not jobs.begin_run(job):
            return
        upload = session.query(ConsoleUpload).filter_by(job_id=job_id).one()
        rows = json.loads(cipher.decrypt(upload.payload_enc)) if upload.payload_enc else []
        upload_id, department_id = upload.id, upload.department_id
    rejected: list[dict[str, Any]] = []
    accepted = 0
    try:
        for start_at in range(0, len(rows), ingestion.MAX_BATCH):
            chunk = rows[start_at:start_at + ingestion.MAX_BATCH]
            with session_factory() as session, session.begin():
                department = session.get(Department, department_id)
                result = ingestion.ingest(session, cipher, cache, department,
                                          [to_record(r) for r in chunk], today)
                accepted += len(result["accepted"])
                jobs.record_progress(session, job_id, done=start_at + len(chunk),
                                     changed=accepted)
            for item in result["rejected"]:
                rejected.append({"row": chunk[item["index"]], "line": start_at + item["index"] + 2,
                                 "problems": item["problems"]})
    except Exception as exc:
        jobs.mark_failed(session_factory, job_id, exc)
        raise
    with session_factory() as session, session.begin():
        upload = session.get(ConsoleUpload, upload_id)
        upload.payload_enc = None  # read: only the rejected rows are kept, to fix them
        upload.rejected_enc = cipher.encrypt(json.dumps(rejected, ensure_ascii=False))
        jobs.mark_done(session, job_id, done=len(rows),
                       params={"accepted": accepted, "rejected": len(rejected)})


def rejected_rows(cipher: DataCipher, upload: ConsoleUpload) -> list[dict[str, Any]]:
    return json.loads(cipher.decrypt(upload.rejected_enc)) if upload.rejected_enc else []


def rejected_xlsx(rows: list[tuple[dict[str, Any], str]]) -> bytes:
    """The rejected rows in the template's columns, each with its problems as the reader
    reads them in a last column: fix them and upload the file again (the problems
    column is ignored)."""
    table = [[zh for _, zh in COLUMNS] + [PROBLEMS_HEADER]]
    for row, problems in rows:
        table.append([row.get(key, "") for key, _ in COLUMNS] + [problems])
    return _sheet(table, "退回的记录")
