"""`seed-demo`: demo data and credentials to try every flow without WeChat."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path

import click
import jwt
from flask import Flask
from sqlalchemy import select

from api.config import INSTANCE_DIR
from points.infra.crypto import hash_token

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
# 张三 also owns the demo merchants; 王五 (no records: 1000 points, A) is a customer whose
# code 张三 can scan at the counter (staff cannot scan their own code: OWN_CODE).
DEMO_RESIDENTS = [
    ("demo-resident-1", "张三", "430104199001011230"),
    ("demo-resident-2", "李四", "430111198506153217"),
    ("demo-resident-3", "王五", "430103199207154580"),
]


def demo_api_key(secret_key: str, code: str) -> str:
    """The demo department's API key: derived from the instance's own secret, so that
    `make run` prints the same key after every restart (development only)."""
    digest = hmac.new(secret_key.encode(), b"demo-department:" + code.encode(), hashlib.sha256)
    return "dk_demo_" + digest.hexdigest()[:40]


def demo_clerk_password(secret_key: str, code: str) -> str:
    """The demo clerk's console password: derived like the demo API keys, so that
    `make run` prints the same one after every restart (development only)."""
    digest = hmac.new(secret_key.encode(), b"demo-clerk:" + code.encode(), hashlib.sha256)
    return "demo-" + digest.hexdigest()[:12]


def _seed_clerks(session, secret: str) -> list[str]:
    """A console clerk per demo department, its password already its own (no change
    asked at the first sign-in, for trying the console at once)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    from api.console.accounts import hasher
    from points.models import Department
    from points.models.console import DepartmentUser

    lines = []
    for code, name, _ in DEMO_DEPARTMENTS:
        username, password = f"clerk-{code}", demo_clerk_password(secret, code)
        department = session.execute(select(Department).where(Department.code == code)).scalar_one()
        clerk = session.execute(select(DepartmentUser).where(
            DepartmentUser.username == username)).scalar_one_or_none()
        if clerk is None:
            session.add(DepartmentUser(department_id=department.id, username=username,
                                       display_name=f"{name}经办人", must_change_password=False,
                                       password_hash=hasher.hash(password), active=True,
                                       created_by="seed-demo"))
        else:
            try:
                hasher.verify(clerk.password_hash, password)
            except (VerificationError, InvalidHashError):
                clerk.password_hash = hasher.hash(password)
            clerk.active, clerk.must_change_password = True, False
        lines.append(f"console clerk of {code} ({name}): {username} / {password}")
    return lines


def _kept_pairs(path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _still_valid(access_token: str, secret_key: str, margin: int = 60) -> bool:
    try:
        claims = jwt.decode(access_token, secret_key, algorithms=["HS256"],
                            options={"verify_aud": False})
    except jwt.PyJWTError:
        return False
    return claims.get("exp", 0) > time.time() + margin


def _refresh_unspent(session, refresh_token: str) -> bool:
    from points.models import RefreshToken

    row = session.execute(select(RefreshToken).where(
        RefreshToken.token_hash == hash_token(refresh_token))).scalar_one_or_none()
    return row is not None and row.spent_at is None and row.revoked_at is None


def _keep_pairs(path, kept: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(kept))
        path.chmod(0o600)
    except OSError:
        pass  # only a convenience: the next run issues new tokens


def register_demo_cli(app: Flask) -> None:
    @app.cli.command("seed-demo")
    def seed_demo():
        """Demo departments, residents and records; prints credentials and tokens."""
        from api.context import state
        from api.passwords import hasher as password_hasher
        from points.infra.db import today
        from points.models import AdminAccount, Department
        from points.office import departments
        from points.people import accounts, face
        from points.recordkeeping import ingestion
        from points.rules.rulesets import default_rule_set

        st = state()
        tokens = st.tokens
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
            secret = app.config["SECRET_KEY"]
            for code, name, types in DEMO_DEPARTMENTS:
                key = demo_api_key(secret, code)
                exists = session.execute(select(Department).where(Department.code == code)).scalar()
                if exists is None:
                    departments.create_department(session, code, name, types or all_types,
                                                  set(all_types), key=key)
                elif exists.api_key_hash != hash_token(key):
                    departments.rotate_key(session, code, key=key)
                lines.append(f"department {code} ({name}): X-API-Key: {key}")
            # Kept in instance/ by `make run` (development); tests name their own file.
            kept_path = app.config.get("DEMO_TOKENS_PATH") or (
                INSTANCE_DIR / "demo-tokens.json" if app.config["APP_ENV"] == "development"
                else None)
            kept = _kept_pairs(Path(kept_path)) if kept_path else {}
            owner = None
            for openid, name, id_number in DEMO_RESIDENTS:
                user, _ = accounts.user_for_openid(session, "dev:" + openid)
                if user.subject_id is None:
                    face.bind_in_development(session, st.cipher, st.face, user, name,
                                             id_number, None, today())
                for scope in accounts.CONSENT_SCOPES:
                    if not accounts.has_consent(session, user.id, scope):
                        accounts.set_consent(session, user, scope, True,
                                             app.config["CONSENT_POLICY_VERSION"])
                owner = owner or user
                pair = kept.get(openid)
                if not (pair and pair.get("user_id") == user.id
                        and _still_valid(pair["access_token"], secret)
                        and _refresh_unspent(session, pair["refresh_token"])):
                    issued = tokens.issue_pair(session, f"user:{user.id}", "resident")
                    pair = {"user_id": user.id, "access_token": issued.access_token,
                            "refresh_token": issued.refresh_token}
                    kept[openid] = pair
                lines.append(f"resident {name} (openid dev:{openid}): Authorization: Bearer "
                             f"{pair['access_token']}\n    refresh_token: {pair['refresh_token']}"
                             f"\n    or sign in again: POST /v1/auth/dev/login "
                             f'{{"openid": "{openid}"}}')
            base = app.config["PUBLIC_BASE_URL"]
            lines.append(f"console (staff pages, sign in with a form): {base}/console/ — "
                         f"credit office: {DEMO_ADMIN[0]} / {DEMO_ADMIN[1]}")
            session.flush()
            lines += _seed_clerks(session, secret)
            market = session.execute(select(Department).where(Department.code == "market")).scalar()
            ingestion.ingest(session, st.cipher, st.redis, market, DEMO_RECORDS, today())
            from incentives.demo import seed_incentives

            lines += seed_incentives(session, owner, today())
        if kept_path:
            _keep_pairs(Path(kept_path), kept)
        ttl = app.config["ACCESS_TOKEN_TTL"]
        click.echo("Demo data ready. Credentials (development only):")
        for line in lines:
            click.echo("  " + line)
        click.echo(f"Access tokens live {ttl // 60} minutes and are printed again by every "
                   "`make run` while they last; after that, POST /v1/auth/refresh with the "
                   "refresh token, or POST /v1/auth/dev/login with the openid, gives a new pair. "
                   "The department keys stay the same across restarts.")
