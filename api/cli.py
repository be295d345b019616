"""Command line: `flask --app wsgi …`."""
from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", "%%(rev)s")
    config.attributes["database_url"] = url
    return config


def upgrade_database(url: str, revision: str = "head") -> None:
    from alembic import command

    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


def register_cli(app: Flask) -> None:
    @app.cli.group("db")
    def db_group():
        """Database migrations (Alembic)."""

    @db_group.command("upgrade")
    @click.argument("revision", default="head")
    def db_upgrade(revision: str):
        """Apply migrations up to REVISION (default: head)."""
        upgrade_database(current_app.config["DATABASE_URL"], revision)
        click.echo(f"database upgraded to {revision}")

    @db_group.command("revision")
    @click.option("-m", "--message", required=True)
    def db_revision(message: str):
        """Autogenerate a new migration from the models (development)."""
        import datetime as dt

        from alembic import command

        slug = dt.date.today().strftime("%Y_%m_%d")
        command.revision(alembic_config(current_app.config["DATABASE_URL"]), message=message,
                         autogenerate=True, rev_id=f"{slug}_{message.replace(' ', '_')[:30]}")

    @app.cli.command("create-admin")
    @click.argument("username")
    @click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
    def create_admin(username: str, password: str):
        """Create (or reset the password of) a credit-office account."""
        from api.context import state
        from api.passwords import hasher as password_hasher
        from points.models import AdminAccount

        if len(password) < 8:
            raise click.BadParameter("use at least 8 characters", param_hint="--password")
        session = state().db.new_session()
        with session.begin():
            admin = session.query(AdminAccount).filter_by(username=username).one_or_none()
            if admin is None:
                session.add(AdminAccount(username=username,
                                         password_hash=password_hasher.hash(password)))
                verb = "created"
            else:
                admin.password_hash = password_hasher.hash(password)
                verb = "updated"
        click.echo(f"admin {username} {verb}")

    from api.demo import register_demo_cli
    from api.notify_cli import register_notify_cli
    from api.points_cli import register_points_cli
    from api.tasks import register_worker_cli

    register_demo_cli(app)
    register_points_cli(app)
    register_worker_cli(app)
    register_notify_cli(app)
