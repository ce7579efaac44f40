"""Alembic environment: runs the revisions on the connection :mod:`data_access.store.migrate` hands it."""

from alembic import context

from data_access.store.workflow import WORKFLOW

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=WORKFLOW,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
