"""Money held exactly: NUMERIC(14, 2) on PostgreSQL, whole fen as integers on SQLite.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: The yuan columns of each table (a budget's quota first, so its check holds throughout).
MONEY = {
    "tactic": ("unit_cost", "min_arpu", "max_arpu"),
    "tactic_pick": ("unit_cost", "total_cost"),
    "campaign_plan": ("budget",),
    "comms_resource": ("unit_cost",),
    "comms_request": ("cost",),
    "comms_budget": ("amount",),
    "budget_unit": ("quota", "allocated", "booked", "spent"),
    "budget_booking": ("amount", "spent_amount"),
}


def _rescale(table: str, column: str, new_value) -> sa.Update:
    """``UPDATE table SET column = new_value(column) WHERE column IS NOT NULL`` in Core (the
    names come from :data:`MONEY` only)."""
    cell = sa.column(column, sa.Double())
    return (sa.update(sa.table(table, cell)).where(cell.is_not(None))
            .values({column: new_value(cell)}))


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table, columns in MONEY.items():
            for column in columns:
                op.execute(_rescale(table, column, lambda c: sa.cast(sa.func.round(c * 100),
                                                                     sa.BigInteger)))
            with op.batch_alter_table(table, recreate="always") as batch:
                for column in columns:
                    batch.alter_column(column, type_=sa.BigInteger(), existing_type=sa.Double())
        return
    for table, columns in MONEY.items():
        for column in columns:
            op.alter_column(table, column, type_=sa.Numeric(14, 2), existing_type=sa.Double(),
                            postgresql_using=f"round({column}::numeric, 2)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table, columns in MONEY.items():
            with op.batch_alter_table(table, recreate="always") as batch:
                for column in columns:
                    batch.alter_column(column, type_=sa.Double(), existing_type=sa.BigInteger())
            for column in columns:
                op.execute(_rescale(table, column, lambda c: c / 100.0))
        return
    for table, columns in MONEY.items():
        for column in columns:
            op.alter_column(table, column, type_=sa.Double(), existing_type=sa.Numeric(14, 2))
