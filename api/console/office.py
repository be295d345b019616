"""The credit office's pages (`/console/office/…`): dashboard, departments and their
users, merchants. Rule sets, calendar, quality, audit: api/console/office_tools.py."""
from __future__ import annotations

import datetime as dt

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, literal_column, or_, select

from api.console import accounts, bp, charts
from api.console.auth import staff
from api.console.pages import attempt, paged
from api.context import db_session
from incentives import merchants
from incentives.models import Merchant
from points.employment import credit_checks
from points.infra.db import SHANGHAI, today
from points.models import CreditRecord, Department, QualityIssue, Score, User
from points.models.console import DepartmentUser
from points.models.workflows import Objection, RepairApplication
from points.office import departments
from points.rules import rule_store
from points.workflows import objections, repairs

MONTHS_SHOWN = 6


def shanghai_month(column, dialect: str):
    """'YYYY-MM' of a timestamp's Asia/Shanghai calendar month (the month every rule and
    report speaks of; UTC+8 all year), on both engines: PostgreSQL converts the
    timestamptz, SQLite's stored UTC text is shifted by eight hours."""
    # Literals, not bound parameters: the same expression is grouped by, and PostgreSQL
    # would see two different parameters in the SELECT and the GROUP BY.
    if dialect == "postgresql":
        return func.to_char(func.timezone(literal_column("'Asia/Shanghai'"), column),
                            literal_column("'YYYY-MM'"))
    return func.strftime(literal_column("'%Y-%m'"), column, literal_column("'+8 hours'"))


def records_per_month(session, months: list[str]) -> dict[int, dict[str, int]]:
    """Records received per department per Shanghai month, for `months` ('YYYY-MM',
    oldest first): {department_id: {month: count}}."""
    since = dt.datetime(int(months[0][:4]), int(months[0][5:]), 1, tzinfo=SHANGHAI)
    month = shanghai_month(CreditRecord.received_at, session.get_bind().dialect.name)
    counts: dict[int, dict[str, int]] = {}
    for department_id, key, n in session.execute(
            select(CreditRecord.department_id, month, func.count())
            .where(CreditRecord.received_at >= since)
            .group_by(CreditRecord.department_id, month)):
        if key in months:
            counts.setdefault(department_id, {})[key] = n
    return counts


def _months(day: dt.date, count: int) -> list[str]:
    out, year, month = [], day.year, day.month
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


@bp.get("/office/")
def office_dashboard():
    s, day = db_session(), today()
    bound = s.execute(select(func.count(User.id)).where(or_(
        User.subject_id.is_not(None), User.unverified_subject_id.is_not(None)))).scalar_one()
    verified = s.execute(select(func.count(User.id)).where(User.subject_id.is_not(None))).scalar_one()
    levels = dict(s.execute(select(Score.level, func.count()).group_by(Score.level)).all())
    from points.rules import rule_store

    order = [lvl.name for lvl in rule_store.active(s).levels]
    level_items = [(name, levels.get(name, 0)) for name in order] + [
        (name, n) for name, n in sorted(levels.items()) if name not in order]
    months = _months(day, MONTHS_SHOWN)
    counts = records_per_month(s, months)
    names = dict(s.execute(select(Department.id, Department.name)).all())
    series = [(names.get(d, str(d)), [c.get(m, 0) for m in months]) for d, c in sorted(counts.items())]
    stats = {
        "bound": bound, "verified": verified,
        "open_issues": s.execute(select(func.count(QualityIssue.id)).where(
            QualityIssue.status == "open")).scalar_one(),
        "repairs_overdue": s.execute(select(func.count(RepairApplication.id)).where(
            RepairApplication.status == repairs.OPEN, RepairApplication.decision_due_on < day)).scalar_one(),
        "objections_overdue": s.execute(select(func.count(Objection.id)).where(
            Objection.status == objections.OPEN, Objection.decision_due_on < day)).scalar_one(),
        "feedback_overdue": s.execute(select(func.count()).select_from(
            credit_checks.missing_feedback_stmt(day).order_by(None).subquery())).scalar_one(),
    }
    return render_template("console/office/dashboard.html", title="总览", stats=stats,
                           level_chart=charts.bars(level_items, "信用等级分布（人数）"),
                           records_chart=charts.grouped_columns(
                               months, series, "各部门每月报送记录数"))


# -- departments and their users ------------------------------------------------------

@bp.get("/office/departments")
def office_departments():
    rows = db_session().execute(select(Department).order_by(Department.code)).scalars().all()
    users = dict(db_session().execute(select(DepartmentUser.department_id, func.count())
                                      .group_by(DepartmentUser.department_id)).all())
    return render_template("console/office/departments.html", title="部门与用户",
                           departments=rows, users=users, types=sorted(rule_store.known_types(db_session())))


@bp.post("/office/departments")
def office_create_department():
    form = request.form
    types = form.getlist("record_types")
    created = {}

    def create():
        created["pair"] = departments.create_department(
            db_session(), form.get("code", "").strip(), form.get("name", "").strip()[:200],
            types, rule_store.known_types(db_session()), actor=staff().actor)

    if not attempt(create):
        return redirect(url_for("console.office_departments"))
    department, key = created["pair"]
    return render_template("console/office/key_shown.html", title="部门已创建",
                           department=department, key=key, created=True)


def _department(code: str) -> Department:
    department = db_session().execute(select(Department).where(Department.code == code)) \
        .scalar_one_or_none()
    if department is None:
        abort(404)
    return department


@bp.post("/office/departments/<code>/key")
def office_rotate_key(code):
    department, key = departments.rotate_key(db_session(), _department(code).code,
                                             actor=staff().actor)
    return render_template("console/office/key_shown.html", title="新的接口密钥",
                           department=department, key=key, created=False)


@bp.post("/office/departments/<code>/enabled")
def office_department_enabled(code):
    enabled = request.form.get("enabled") == "1"
    department = _department(code)
    departments.update_department(db_session(), department.code, rule_store.known_types(db_session()),
                                  enabled=enabled, actor=staff().actor)
    flash(f"{department.name}已{'启用' if enabled else '停用'}。")
    return redirect(url_for("console.office_departments"))


@bp.post("/office/departments/<code>/types")
def office_department_types(code):
    department = _department(code)
    attempt(lambda: departments.update_department(
        db_session(), department.code, rule_store.known_types(db_session()),
        record_types=request.form.getlist("record_types"), actor=staff().actor),
        f"{department.name}的记录类型已保存。")
    return redirect(url_for("console.office_department_users", code=code))


@bp.get("/office/departments/<code>/users")
def office_department_users(code):
    department = _department(code)
    users = db_session().execute(select(DepartmentUser).where(
        DepartmentUser.department_id == department.id).order_by(DepartmentUser.username)
    ).scalars().all()
    return render_template("console/office/users.html", title=f"{department.name} · 用户",
                           department=department, users=users, types=sorted(rule_store.known_types(db_session())))


@bp.post("/office/departments/<code>/users")
def office_create_user(code):
    department = _department(code)
    made = {}

    def create():
        made["pair"] = accounts.create_clerk(db_session(), department,
                                             request.form.get("username", ""),
                                             request.form.get("display_name", ""), staff().actor)

    if not attempt(create):
        return redirect(url_for("console.office_department_users", code=code))
    clerk, password = made["pair"]
    return render_template("console/office/password_shown.html", title="部门用户已创建",
                           department=department, clerk=clerk, password=password)


@bp.post("/office/departments/<code>/users/<int:user_id>/reset")
def office_reset_user(code, user_id):
    department = _department(code)
    clerk = accounts.department_clerk(db_session(), department, user_id)
    password = accounts.reset_password(db_session(), clerk, staff().actor)
    return render_template("console/office/password_shown.html", title="密码已重置",
                           department=department, clerk=clerk, password=password)


@bp.post("/office/departments/<code>/users/<int:user_id>/active")
def office_user_active(code, user_id):
    department = _department(code)
    clerk = accounts.department_clerk(db_session(), department, user_id)
    active = request.form.get("active") == "1"
    accounts.set_active(db_session(), clerk, active, staff().actor)
    flash(f"{clerk.display_name}（{clerk.username}）已{'启用' if active else '停用'}。")
    return redirect(url_for("console.office_department_users", code=code))


# -- merchants ------------------------------------------------------------------------

MERCHANT_ACTIONS = {"approve": "批准", "reject": "驳回", "suspend": "暂停", "reinstate": "恢复"}
SECTORS = {"tourism": "旅游", "housekeeping": "家政", "hotel": "酒店", "catering": "餐饮",
           "culture": "文化", "transport": "交通", "other": "其他"}


@bp.get("/office/merchants")
def office_merchants():
    status = request.args.get("status", "pending")
    stmt = select(Merchant)
    if status in {"pending", "approved", "rejected", "suspended"}:
        stmt = stmt.where(Merchant.status == status)
    else:
        status = ""
    page = paged(stmt.order_by(Merchant.id))
    return render_template("console/office/merchants.html", title="商户审核", page=page,
                           status=status, sectors=SECTORS, uscc_ok=_uscc_ok)


def _uscc_ok(uscc: str) -> bool:
    try:
        return merchants.normalise_uscc(uscc) == uscc
    except Exception:  # noqa: BLE001 - any refusal means: not a valid code
        return False


@bp.post("/office/merchants/<int:merchant_id>/<action>")
def office_merchant_action(merchant_id, action):
    if action not in MERCHANT_ACTIONS:
        abort(404)
    if db_session().get(Merchant, merchant_id) is None:
        abort(404)
    admin_id = staff().id
    reason = (request.form.get("reason") or "").strip()[:500]
    if action in {"reject", "suspend"} and not reason:
        flash("未办理：驳回或暂停须写明理由（申请人会看到）。")
        return redirect(url_for("console.office_merchants"))
    calls = {
        "approve": lambda: merchants.approve(db_session(), merchant_id, admin_id),
        "reject": lambda: merchants.reject(db_session(), merchant_id, admin_id, reason),
        "suspend": lambda: merchants.suspend(db_session(), merchant_id, admin_id, reason),
        "reinstate": lambda: merchants.reinstate(db_session(), merchant_id, admin_id),
    }
    attempt(calls[action], f"已{MERCHANT_ACTIONS[action]}。")
    return redirect(request.referrer if (request.referrer or "").startswith(
        request.host_url + "console/") else url_for("console.office_merchants"))

