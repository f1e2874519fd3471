"""Alembic environment: runs learning_store migrations on a given connection or URL."""

from __future__ import annotations

from alembic import context
from learning_store import migrations
from learning_store.schema import VERSION_TABLE, metadata

config = context.config
target_metadata = metadata


def _url() -> str:
    """URL precedence: -x url=..., then alembic.ini's sqlalchemy.url, then LearningConfig."""
    return migrations.resolve_url(
        context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (`alembic upgrade --sql`)."""
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        version_table=VERSION_TABLE,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run on the caller's connection when one is given, else on a new engine for the URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        migrations.run_on_connection(context, connection)
        return
    engine = migrations.engine_for_url(_url())
    try:
        with engine.connect() as connection:
            migrations.run_on_connection(context, connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
