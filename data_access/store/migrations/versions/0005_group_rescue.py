"""Group rescues: each group early warning raised as a work order, its offer and outcome.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "group_rescue",
        sa.Column("rescue_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("signal", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("group_name", sa.String(length=120), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=True),
        sa.Column("product", sa.String(length=20), nullable=True),
        sa.Column("branch", sa.String(length=40), nullable=True),
        sa.Column("micro_region", sa.String(length=40), nullable=True),
        sa.Column("warned_month", sa.String(length=7), nullable=False),
        sa.Column("since_month", sa.String(length=7), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("fall", sa.Double(), nullable=False),
        sa.Column("z", sa.Double(), nullable=False),
        sa.Column("scale", sa.Double(), nullable=False),
        sa.Column("evidence", sa.String(length=400), nullable=False),
        sa.Column("offer_code", sa.String(length=30), nullable=True),
        sa.Column("outcome", sa.String(length=10), server_default="pending", nullable=False),
        sa.Column("outcome_month", sa.String(length=7), nullable=True),
        sa.Column("outcome_note", sa.String(length=200), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alert.alert_id"]),
        sa.ForeignKeyConstraint(["order_id"], ["work_order.order_id"]),
        sa.PrimaryKeyConstraint("rescue_id"),
        sa.UniqueConstraint("alert_id", "subject", name="uq_group_rescue_subject"),
        comment="Group early warnings raised as work orders: what was warned, the offer, the "
                "outcome.")
    op.create_index("ix_group_rescue_order", "group_rescue", ["order_id"])
    op.create_index("ix_group_rescue_pending", "group_rescue", ["outcome", "subject"])


def downgrade() -> None:
    op.drop_index("ix_group_rescue_pending", table_name="group_rescue")
    op.drop_index("ix_group_rescue_order", table_name="group_rescue")
    op.drop_table("group_rescue")
