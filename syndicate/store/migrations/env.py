"""Alembic environment: runs on the connection the store hands over (``Store.migrate``)."""

from alembic import context

from syndicate.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the store always passes one
    raise RuntimeError("run migrations through syndicate.store.engine.Store.migrate()")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
