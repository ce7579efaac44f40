"""Alembic revisions of the workflow store, oldest first."""
