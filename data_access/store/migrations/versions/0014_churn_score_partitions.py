"""On PostgreSQL the churn scores table is partitioned by run (LIST on run_id), a partition
per scoring run: a run is written into a table of its own without indexes, indexed once and
attached when complete, and an old run's partition is dropped whole instead of deleted a
chunk at a time (keeping the indexes up during COPY cost 12–17 s of the server's CPU per
million rows). Each stored run moves into its own partition, indexed, under the same
names the score job gives them (``data_access.store.churn_scores.layout.TablePerRun``). SQLite
keeps one table: nothing changes there.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_OLD = "churn_score_unpartitioned"  # the table while its rows move, under its old names
_WITH_ACTION = sa.text("action <> ''")
#: The three indexes of churn_score, by the suffix their partitions' copies are named with.
_INDEXES = {"rank": ["run_id", "rank"],
            "micro_region": ["run_id", "micro_region", "rank"],
            "action": ["run_id", "action", "rank"]}


def _columns() -> list[sa.Column]:
    return [
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.BigInteger(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("branch", sa.String(length=40), nullable=False),
        sa.Column("micro_region", sa.String(length=40), nullable=False),
        sa.Column("segment", sa.String(length=20), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("group_name", sa.String(length=120), nullable=True),
        sa.Column("plan_family", sa.String(length=40), nullable=True),
        sa.Column("channel_type", sa.String(length=40), nullable=True),
        sa.Column("tenure_months", sa.Integer(), nullable=True),
        sa.Column("arpu", sa.Double(), nullable=True),
        sa.Column("churn_prob", sa.Double(), nullable=False),
        sa.Column("risk_band", sa.String(length=10), nullable=False),
        sa.Column("net_value", sa.Double(), nullable=False),
        sa.Column("expected_loss", sa.Double(), nullable=False),
        sa.Column("top_reason", sa.String(length=200), server_default="", nullable=False),
        sa.Column("reasons", sa.Text(), server_default="", nullable=False),
        sa.Column("reason_tags", sa.String(length=200), server_default="", nullable=False),
        sa.Column("action", sa.String(length=120), server_default="", nullable=False)]


_COLUMNS = [c.name for c in _columns()]
_COMMENT = "One row per subscriber per churn scoring run: risk, value, reasons, tactic."


def _create_churn_score(**partitioned: str) -> None:
    op.create_table("churn_score", *_columns(),
                    sa.ForeignKeyConstraint(["run_id"], ["churn_run.run_id"]),
                    sa.PrimaryKeyConstraint("run_id", "subscriber_id"),
                    comment=_COMMENT, **partitioned)


def _create_indexes(table: str, prefix: str) -> None:
    for suffix, columns in _INDEXES.items():
        op.create_index(f"{prefix}{suffix}", table, columns,
                        **({"postgresql_where": _WITH_ACTION} if suffix == "action" else {}))


def _set_aside(table: str) -> None:
    """Rename ``table`` to ``_OLD`` and free the names of its key and indexes for the new."""
    op.rename_table(table, _OLD)
    op.execute(sa.DDL(f"ALTER TABLE {_OLD} RENAME CONSTRAINT churn_score_pkey TO {_OLD}_pkey"))
    for suffix in _INDEXES:
        op.drop_index(f"ix_churn_score_{suffix}", table_name=_OLD)


def _copy_rows(source: str, target: str, run_id: int | None = None) -> None:
    """``INSERT INTO target SELECT … FROM source`` (of one run when given)."""
    rows, into = (sa.table(name, *[sa.column(c) for c in _COLUMNS]) for name in (source, target))
    select = sa.select(*[rows.c[c] for c in _COLUMNS])
    if run_id is not None:
        select = select.where(rows.c.run_id == int(run_id))
    op.execute(sa.insert(into).from_select(_COLUMNS, select))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _set_aside("churn_score")
    _create_churn_score(postgresql_partition_by="LIST (run_id)")
    _create_indexes("churn_score", "ix_churn_score_")
    old = sa.table(_OLD, sa.column("run_id"))
    runs = op.get_bind().execute(sa.select(old.c.run_id).distinct().order_by(old.c.run_id))
    for run_id in [int(r) for r in runs.scalars()]:  # as the score job writes a run
        part = f"churn_score_run_{run_id:d}"
        op.execute(sa.DDL(f"CREATE TABLE {part} (LIKE churn_score INCLUDING DEFAULTS)"))
        op.create_check_constraint(f"{part}_run", part, sa.column("run_id") == run_id)
        _copy_rows(_OLD, part, run_id)
        op.create_primary_key(f"{part}_pkey", part, ["run_id", "subscriber_id"])
        _create_indexes(part, f"{part}_")
        op.execute(sa.DDL(f"ALTER TABLE churn_score ATTACH PARTITION {part} "
                          f"FOR VALUES IN ({run_id:d})"))
    op.drop_table(_OLD)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _set_aside("churn_score")  # dropping its indexes drops its partitions' copies
    _create_churn_score()
    _copy_rows(_OLD, "churn_score")
    _create_indexes("churn_score", "ix_churn_score_")
    op.drop_table(_OLD)  # and its partitions with it
    # A run still being written (or whose job died) has a table of its own: its run is
    # incomplete, never read, and deleted by the next prune; its rows go now.
    tables = sa.table("pg_tables", sa.column("tablename"), sa.column("schemaname"))
    left = op.get_bind().execute(sa.select(tables.c.tablename).where(
        tables.c.schemaname == sa.func.current_schema(),
        tables.c.tablename.regexp_match("^churn_score_run_[0-9]+$"))).scalars().all()
    for name in left:
        op.drop_table(name)
