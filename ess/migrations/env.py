"""Alembic runs migrations on the connection ess.database hands it."""

from __future__ import annotations

from alembic import context

from ess.schema import metadata, render_migration_type

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run migrations through `ess-sync db upgrade`, which passes a connection.")
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,
    render_item=render_migration_type,
)
with context.begin_transaction():
    context.run_migrations()
