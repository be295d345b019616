"""Alembic environment: plain Alembic, URL from the app configuration."""
from __future__ import annotations

from alembic import context

import incentives.models  # noqa: F401  (its tables are declared on the same metadata)
import points.models
from api.extensions import make_engine

config = context.config
target_metadata = points.models.Base.metadata


def _url() -> str:
    url = config.attributes.get("database_url")
    if not url:
        from api.config import load_config

        url = load_config()["DATABASE_URL"]
    return url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(_url())
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite",
                          compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
