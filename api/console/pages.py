"""What every console page uses: paging in the database, Chinese labels, domain
refusals shown on the page, job progress."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import flash, request, url_for

from api.context import db_session
from points.errors import DomainError

PAGE_SIZE = 50

STATUS = {
    "open": "待处理", "submitted": "待处理", "approved": "已通过", "rejected": "未通过", "withdrawn": "已撤回",
    "upheld": "异议成立", "active": "有效", "revoked": "已撤销", "repaired": "已修复",
    "ended": "已终止", "resolved": "已解决", "pending": "待处理", "suspended": "已暂停",
    "queued": "排队中", "running": "进行中", "done": "已完成", "failed": "失败",
    "fulfilled": "已履约", "breached": "已违约", "expired": "已失效", "expired_unused": "已过期",
}
DIMENSIONS = {"completeness": "完整性", "validity": "有效性", "accuracy": "准确性",
              "timeliness": "及时性"}
FIELDS = {"source_ref": "业务编号", "subject.id_number": "身份证号", "subject.name": "姓名",
          "type": "记录类型", "occurred_on": "发生日期", "decided_on": "决定日期",
          "ended_on": "终止日期", "details": "详情", "record": "整行", "subject": "当事人"}
# Domain refusals by error_code, as a clerk or the office reads them.
MESSAGES = {
    "REPAIR_CLOSED": "这份修复申请已经处理过了。",
    "OBJECTION_CLOSED": "这条异议已经处理过了。",
    "NOT_YET_REPAIRABLE": "按规则这条记录还不到可以修复的时间。",
    "ALREADY_REPAIRED": "这条记录已经修复过了。",
    "RECORD_REVOKED": "这条记录已被撤销，请改为不予通过。",
    "RECORD_NOT_FOUND": "本部门没有这个业务编号的记录。",
    "RECORD_NOT_ENDABLE": "正面记录按整个有效期计分，不能提前终止。",
    "FAST_TRACK_EXCLUDED": "失信受限人员不能适用容缺受理等便利措施。",
    "FEEDBACK_ALREADY_GIVEN": "这次查询已经反馈过了。",
    "NAME_MISMATCH": "姓名与该身份证号登记的姓名不一致。",
    "RULE_SET_EXISTS": "已有同一编码的规则版本，请给新版本一个新的编码。",
    "DEPARTMENT_EXISTS": "已有同一编码的部门。",
    "USERNAME_TAKEN": "这个用户名已被使用。",
}


def refusal(error: DomainError) -> str:
    """The page's words for a refusal; the domain's own message when none is kept here."""
    from points.i18n import translate_text

    text = MESSAGES.get(error.error_code) or translate_text(error.message)
    errors = error.extra.get("errors") if isinstance(error.extra, dict) else None
    if error.error_code in {"INVALID", "VALIDATION_ERROR"} and errors:
        text = f"{text}：{_flatten(errors)}"
    return text


def _flatten(errors: Any) -> str:
    if isinstance(errors, dict):
        return "；".join(f"{k} {_flatten(v)}" for k, v in errors.items() if k not in {"json", "form"}) \
            or "；".join(_flatten(v) for v in errors.values())
    if isinstance(errors, list):
        return "，".join(_flatten(v) for v in errors)
    return str(errors)


def attempt(action, success: str | None = None) -> bool:
    """Run `action()`; a domain refusal rolls back what it wrote and is shown on the
    page instead of an error answer. True when it went through."""
    try:
        action()
    except DomainError as error:
        db_session().rollback()
        flash("未办理：" + refusal(error))
        return False
    if success:
        flash(success)
    return True


@dataclass
class Page:
    items: list
    number: int
    has_next: bool
    total: int | None = None

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    def url(self, number: int) -> str:
        args = {**request.args.to_dict(), **(request.view_args or {}), "page": number}
        return url_for(request.endpoint, **args)


def page_number() -> int:
    raw = request.args.get("page", "1")
    return max(1, min(int(raw), 100_000)) if raw.isascii() and raw.isdigit() else 1


def paged(stmt, size: int = PAGE_SIZE, scalars: bool = True) -> Page:
    """One page of `stmt` read from the database (one row more tells if there is a next)."""
    number = page_number()
    result = db_session().execute(stmt.limit(size + 1).offset((number - 1) * size))
    rows = list(result.scalars() if scalars else result.all())
    return Page(rows[:size], number, len(rows) > size)


def job_share(job) -> int:
    if job.status == "done":
        return 100
    return min(100, round(100 * job.done / job.total)) if job.total else 0


def job_text(job) -> str:
    if job.status == "queued":
        return "排队等待处理……"
    if job.status == "failed":
        return "处理失败：" + "；".join(job.errors[-3:] if job.errors else [])
    if job.status == "running":
        return f"处理中：{job.done} / {job.total}"  # the kind's unit follows when done
    if job.kind == "console_upload":
        return f"已完成：{job.done} / {job.total} 行"
    if job.kind == "rule_set_preview":
        return f"已完成：{job.done} / {job.total} 位居民"
    return f"已完成：{job.done} / {job.total} 位居民，积分变化 {job.changed} 位"


def job_json(job) -> dict:
    return {"id": job.id, "status": job.status, "done": job.done, "total": job.total,
            "changed": job.changed, "text": job_text(job)}


def beijing_time(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time as people in Changsha read it."""
    from points.infra.db import SHANGHAI

    return value.astimezone(SHANGHAI).strftime(fmt) if value is not None else ""


def register_filters(app) -> None:
    app.jinja_env.filters["bj"] = beijing_time
    app.jinja_env.filters["status_zh"] = lambda s: STATUS.get(s, s)
    app.jinja_env.filters["dimension_zh"] = lambda s: DIMENSIONS.get(s, s)
    app.jinja_env.filters["field_zh"] = lambda s: FIELDS.get(s, s)
    app.jinja_env.globals.update(job_share=job_share, job_text=job_text)
