"""`seed-demo`: demo data and credentials to try every flow without WeChat."""
from __future__ import annotations

import click
from flask import Flask
from sqlalchemy import select

DEMO_ADMIN = ("admin", "admin-demo-2026")
DEMO_DEPARTMENTS = [
    ("market", "雨花区市场监督管理局", None),  # None: every record type
    ("civil", "雨花区民政局", ["volunteer.service", "charity.donation", "honour.district",
                            "worker.identity_verified", "worker.background_check",
                            "worker.health_certificate", "worker.insurance", "worker.training",
                            "worker.skill_certificate", "housekeeping.verified_complaint"]),
]
# The first resident reaches AA (perks for AA and above), the second has a general penalty.
DEMO_RECORDS = [
    {"source_ref": "demo-1", "subject": {"id_number": "430104199001011230", "name": "张三"},
     "type": "donation.blood", "occurred_on": "2026-05-01"},
    {"source_ref": "demo-2", "subject": {"id_number": "430104199001011230", "name": "张三"},
     "type": "volunteer.service", "occurred_on": "2026-06-01", "details": {"hours": 120}},
    {"source_ref": "demo-3", "subject": {"id_number": "430104199001011230", "name": "张三"},
     "type": "honour.district", "occurred_on": "2026-03-01"},
    {"source_ref": "demo-4", "subject": {"id_number": "430111198506153217", "name": "李四"},
     "type": "admin.penalty.general", "decided_on": "2026-09-01"},
]
DEMO_RESIDENTS = [
    ("demo-resident-1", "张三", "430104199001011230"),
    ("demo-resident-2", "李四", "430111198506153217"),
]


def register_demo_cli(app: Flask) -> None:
    @app.cli.command("seed-demo")
    def seed_demo():
        """Demo departments, residents and records; prints credentials and tokens."""
        from api.context import state
        from api.routes.auth import password_hasher
        from points import accounts, departments, face, ingestion
        from points.db import today
        from points.models import AdminAccount, Department
        from points.rulesets import default_rule_set

        st = state()
        tokens = st.extras["tokens"]
        all_types = sorted(default_rule_set().resolved_types)
        session = st.db.new_session()
        lines: list[str] = []
        with session.begin():
            admin = session.execute(select(AdminAccount).where(
                AdminAccount.username == DEMO_ADMIN[0])).scalar_one_or_none()
            if admin is None:
                session.add(AdminAccount(username=DEMO_ADMIN[0],
                                         password_hash=password_hasher.hash(DEMO_ADMIN[1])))
            lines.append(f"admin login: POST /v1/auth/admin/login "
                         f'{{"username": "{DEMO_ADMIN[0]}", "password": "{DEMO_ADMIN[1]}"}}')
            for code, name, types in DEMO_DEPARTMENTS:
                exists = session.execute(select(Department).where(Department.code == code)).scalar()
                if exists is None:
                    _, key = departments.create_department(session, code, name, types or all_types,
                                                           set(all_types))
                else:
                    _, key = departments.rotate_key(session, code)
                lines.append(f"department {code} ({name}): X-API-Key: {key}")
            owner = None
            for openid, name, id_number in DEMO_RESIDENTS:
                user, _ = accounts.user_for_openid(session, "dev:" + openid)
                if user.subject_id is None:
                    face.bind_in_development(session, st.cipher, st.extras["face"], user, name,
                                             id_number, None, today())
                for scope in accounts.CONSENT_SCOPES:
                    if not accounts.has_consent(session, user.id, scope):
                        accounts.set_consent(session, user, scope, True,
                                             app.config["CONSENT_POLICY_VERSION"])
                owner = owner or user
                pair = tokens.issue_pair(session, f"user:{user.id}", "resident")
                lines.append(f"resident {name} (openid dev:{openid}): Authorization: Bearer "
                             f"{pair.access_token}\n    refresh_token: {pair.refresh_token}"
                             f"\n    or sign in again: POST /v1/auth/dev/login "
                             f'{{"openid": "{openid}"}}')
            market = session.execute(select(Department).where(Department.code == "market")).scalar()
            ingestion.ingest(session, st.cipher, st.redis, market, DEMO_RECORDS, today())
            from incentives.demo import seed_incentives

            lines += seed_incentives(session, owner, today())
        click.echo("Demo data ready. Credentials (development only):")
        for line in lines:
            click.echo("  " + line)
