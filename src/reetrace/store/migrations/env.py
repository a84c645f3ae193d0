"""Alembic environment: reetrace always passes the connection in (see reetrace.store.migrate)."""

from __future__ import annotations

from alembic import context

from reetrace.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
