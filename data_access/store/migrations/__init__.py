"""Alembic migrations of the workflow store (applied by :func:`data_access.store.migrate.upgrade_store`)."""
