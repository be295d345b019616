"""Backup and restore (docs/operations.md): a pg_dump restored into a new database
gives identical scores, and `points verify` is clean on it."""
from __future__ import annotations

import shutil
import subprocess
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import create_engine, text

from tests.builders.departments import department, push
from tests.builders.residents import valid_id


def test_dump_and_restore_gives_identical_scores(app, client, settings, tmp_path):
    url = settings["DATABASE_URL"]
    if not url.startswith("postgresql") or not shutil.which("pg_dump"):
        pytest.skip("backup and restore are tested against PostgreSQL with pg_dump")
    dept = department(app, client)
    push(client, dept,
         {"type": "donation.blood", "id_number": valid_id(seq=95), "occurred_on": "2026-06-01"},
         {"type": "admin.penalty.serious", "id_number": valid_id(seq=96), "decided_on": "2026-03-01"},
         {"type": "volunteer.service", "id_number": valid_id(seq=95), "occurred_on": "2026-02-01",
          "details": {"hours": 45}})
    dump = tmp_path / "credit.dump"
    subprocess.run(["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", url], check=True)

    parts = urlsplit(url)
    restored_name = parts.path.lstrip("/") + "_restore"
    admin = create_engine(urlunsplit(parts._replace(path="/postgres")).replace(
        "postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{restored_name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{restored_name}"'))
    restored = urlunsplit(parts._replace(path="/" + restored_name))
    subprocess.run(["pg_restore", "--no-owner", f"--dbname={restored}", str(dump)], check=True)

    from api import create_app

    copy = create_app({"DATABASE_URL": restored})
    try:
        result = copy.test_cli_runner().invoke(args=["points", "verify"])
        assert result.exit_code == 0 and "verified 2 scores; 0 differences" in result.output

        def scores(engine):
            with engine.connect() as conn:
                return conn.execute(text("SELECT subject_id, points, level, restricted, rule_set "
                                         "FROM scores ORDER BY subject_id")).all()

        assert scores(copy.state.db.engine) == scores(
            app.state.db.engine)
    finally:
        copy.state.db.engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{restored_name}" WITH (FORCE)'))
        admin.dispose()
