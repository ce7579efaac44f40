"""On PostgreSQL the churn scores are partitioned by run: a run is written into a table of its
own, indexed and attached as ``churn_score``'s partition when complete (its key and indexes
those of the parent, none twice), and dropped whole when pruned, or when its job died or it
failed; readers of one run read its partition only. Migration 0014 moves stored runs into
partitions and back (on SQLite it changes nothing)."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command

from data_access.store import churn_scores as scores
from data_access.store import migrate
from data_access.store.churn_scores import layout, reading, writing
from data_access.store.scope import SYSTEM, acting_as
from data_access.store.workflow import create_workflow_engine
from tests.conftest import new_pg_database
from tests.test_churn_scores import fake_scores

VERSION = "churn-20261201-000000"
#: A partition's key and indexes, by the parent's they are attached to.
PARENT_INDEXES = {"pkey": "churn_score_pkey", "rank": "ix_churn_score_rank",
                  "micro_region": "ix_churn_score_micro_region",
                  "action": "ix_churn_score_action"}


@pytest.fixture
def pg_workflow(pg_url: str, tmp_path) -> Iterator[sa.Engine]:
    """A fresh workflow store on PostgreSQL (created by the migrations, as in production)."""
    with new_pg_database(pg_url, f"part_{tmp_path.name[-20:].lower()}") as url:
        engine = create_workflow_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


def _rows(engine: sa.Engine, sql: str, **params) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def _run_tables(engine: sa.Engine) -> set[str]:
    """Every table of a run's scores, attached or not."""
    return {name for (name,) in _rows(
        engine, "SELECT tablename FROM pg_tables WHERE tablename LIKE 'churn\\_score\\_run\\_%'")}


def _partitions(engine: sa.Engine) -> set[str]:
    return {name for (name,) in _rows(
        engine, "SELECT inhrelid::regclass::text FROM pg_inherits "
                "WHERE inhparent = 'churn_score'::regclass")}


def _indexes_of(engine: sa.Engine, table: str) -> dict[str, str | None]:
    """Each index of ``table`` (pg_indexes) and the parent's index it is attached to."""
    return dict(_rows(engine, """
        SELECT i.indexname, h.inhparent::regclass::text
        FROM pg_indexes i
        LEFT JOIN pg_inherits h ON h.inhrelid = to_regclass(i.indexname)
        WHERE i.tablename = :table""", table=table))


def _partition(run_id: int) -> str:
    return f"churn_score_run_{run_id}"


def _save(engine: sa.Engine, month: str, n: int = 120, **kwargs) -> scores.ScoreRun:
    return scores.save_score_run(engine, VERSION, month, fake_scores(n), pd.DataFrame(),
                                 **kwargs)


def test_a_saved_run_is_a_partition_of_its_own_with_the_parents_key_and_indexes(pg_workflow):
    (strategy,) = _rows(pg_workflow, "SELECT partstrat FROM pg_partitioned_table "
                                     "WHERE partrelid = 'churn_score'::regclass")
    assert strategy == ("l",)  # a fresh store is partitioned, by LIST
    frame = fake_scores(300)
    with scores.open_score_run(pg_workflow, VERSION, "2026-10") as run_id:
        url = pg_workflow.url.render_as_string(hide_password=False)
        scores.add_scores_in(url, run_id, frame.iloc[:100], SYSTEM)  # as the job's writer
        scores.add_scores(pg_workflow, run_id, frame.iloc[100:], chunk_rows=70)
        part = _partition(run_id)
        # written, not yet attached: a table of its own without key or indexes, unread
        assert _run_tables(pg_workflow) == {part} and _partitions(pg_workflow) == set()
        assert _indexes_of(pg_workflow, part) == {}
        assert _rows(pg_workflow, "SELECT count(*) FROM churn_score") == [(0,)]
        scores.finish_score_run(pg_workflow, run_id, frame, pd.DataFrame())
    assert _partitions(pg_workflow) == {part}
    assert _rows(pg_workflow, f"SELECT count(*), min(run_id), max(run_id) FROM {part}") == \
        [(300, run_id, run_id)]
    assert _rows(pg_workflow, "SELECT count(*) FROM churn_score WHERE run_id = :r",
                 r=run_id) == [(300,)]
    # the partition's key and three indexes, each attached to the parent's: none built twice
    assert _indexes_of(pg_workflow, part) == {
        f"{part}_{suffix}": parent for suffix, parent in PARENT_INDEXES.items()}
    assert "WHERE" in _rows(pg_workflow, "SELECT indexdef FROM pg_indexes WHERE indexname = "
                                         ":name", name=f"{part}_action")[0][0]
    assert set(_indexes_of(pg_workflow, "churn_score")) == set(PARENT_INDEXES.values())
    # its check (made with the empty table) spared the attach a scan of its rows
    assert _rows(pg_workflow, "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE "
                              "conrelid = to_regclass(:part) AND contype = 'c'", part=part) == \
        [(f"CHECK ((run_id = {run_id}))",)]
    back = scores.load_retention(pg_workflow, run_id, limit=1_000, columns=scores.SCORE_COLUMNS)
    assert back["subscriber_id"].tolist() == frame["subscriber_id"].tolist()


def test_pruning_drops_the_old_runs_partitions_and_keeps_the_rest_readable(pg_workflow):
    runs = [_save(pg_workflow, month, keep=2) for month in ("2026-08", "2026-09", "2026-10")]
    kept = [r.run_id for r in runs[1:]]
    assert _run_tables(pg_workflow) == _partitions(pg_workflow) == {_partition(r) for r in kept}
    for run_id in kept:
        assert len(scores.load_retention(pg_workflow, run_id, limit=1_000)) == 120
    assert _rows(pg_workflow, "SELECT count(*) FROM churn_score") == [(240,)]
    assert scores.load_retention(pg_workflow, runs[0].run_id).empty


def test_a_run_whose_job_died_leaves_a_table_the_next_save_drops(pg_workflow, monkeypatch):
    kept = _save(pg_workflow, "2026-09")
    died = fake_scores(seed=1)
    died.loc[180, "branch"] = None  # the fourth chunk fails …
    with monkeypatch.context() as patch:  # … and the process dies before it cleans up
        patch.setattr(writing, "_delete_runs", lambda *args, **kwargs: None)
        with pytest.raises(sa.exc.IntegrityError):
            scores.save_score_run(pg_workflow, VERSION, "2026-10", died, pd.DataFrame(),
                                  chunk_rows=60)
    (dead,) = _run_tables(pg_workflow) - {_partition(kept.run_id)}
    assert _partitions(pg_workflow) == {_partition(kept.run_id)}  # never attached
    assert _rows(pg_workflow, f"SELECT count(*) FROM {dead}") == [(180,)]
    later = _save(pg_workflow, "2026-10")
    assert _run_tables(pg_workflow) == {_partition(kept.run_id), _partition(later.run_id)}


def test_a_run_that_fails_half_way_leaves_no_table(pg_workflow):
    kept = _save(pg_workflow, "2026-09")
    broken = fake_scores(seed=1)
    broken.loc[180, "branch"] = None  # NOT NULL: the fourth chunk of 60 fails in COPY
    with pytest.raises(sa.exc.IntegrityError):
        scores.save_score_run(pg_workflow, VERSION, "2026-10", broken, pd.DataFrame(),
                              chunk_rows=60)
    assert _run_tables(pg_workflow) == _partitions(pg_workflow) == {_partition(kept.run_id)}


def test_a_run_holding_a_subscriber_twice_is_refused_and_leaves_nothing(workflow):
    """Without a key while it is written (PostgreSQL), a repeated subscriber is caught when
    the key is built at the end, and the run goes as one failing half-way does (SQLite's
    key refuses the row as it is written)."""
    kept = _save(workflow, "2026-09")
    twice = fake_scores(seed=1)
    twice.loc[200, "subscriber_id"] = twice.loc[3, "subscriber_id"]
    with pytest.raises(sa.exc.IntegrityError):
        scores.save_score_run(workflow, VERSION, "2026-10", twice, pd.DataFrame(),
                              chunk_rows=60)
    assert [r.run_id for r in scores.list_runs(workflow)] == [kept.run_id]
    with workflow.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(scores.churn_run)
                            ).scalar() == 1
        assert conn.execute(sa.select(sa.func.count()).select_from(scores.churn_score)
                            ).scalar() == 120
    if workflow.dialect.name == "postgresql":
        assert _run_tables(workflow) == {_partition(kept.run_id)}


def test_a_reader_of_one_run_reads_its_partition_only(pg_workflow):
    first, second = _save(pg_workflow, "2026-09"), _save(pg_workflow, "2026-10")
    with acting_as(SYSTEM):
        where = reading._where(scores.churn_score, second.run_id,
                              scores.RetentionFilter(action="Data pack [DATA]"))
    query = (sa.select(scores.churn_score.c.rank).where(*where)
             .order_by(scores.churn_score.c.rank).limit(50))
    with pg_workflow.connect() as conn:
        plan = "\n".join(conn.exec_driver_sql("EXPLAIN " + str(query.compile(
            conn, compile_kwargs={"literal_binds": True}))).scalars())
    assert _partition(second.run_id) in plan and _partition(first.run_id) not in plan, plan


@pytest.mark.parametrize("run_id", ["7", 7.0, True, 0, -3, "7; DROP TABLE churn_run"])
def test_a_run_table_is_named_from_a_whole_run_id_only(run_id):
    with pytest.raises(ValueError, match="positive integer"):
        layout.TablePerRun().table(run_id)


def _records(frame: pd.DataFrame) -> list[dict]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def test_migration_0014_moves_the_stored_runs_into_partitions_and_back(empty_url):
    engine = sa.create_engine(empty_url)
    if engine.dialect.name == "sqlite":  # as the store's engine has them
        sa.event.listen(engine, "connect",
                        lambda dbapi, _: dbapi.execute("PRAGMA foreign_keys=ON"))
    stored = {1: fake_scores(40, seed=1), 2: fake_scores(25, seed=2)}
    try:
        with engine.begin() as conn:
            config = migrate._config(conn)
            command.upgrade(config, "0013")
            for run_id, frame in stored.items():
                conn.execute(sa.insert(scores.churn_run).values(
                    run_id=run_id, model_version=VERSION, month=f"2026-0{run_id}",
                    scored_at=sa.func.current_timestamp(), subscribers=len(frame),
                    base_rate=0.1, created_by="x"))
                conn.execute(sa.insert(scores.churn_score),
                             [{**row, "run_id": run_id} for row in _records(frame)])
            command.upgrade(config, "0014")

        def held() -> dict[int, list[int]]:
            with engine.connect() as conn:
                rows = conn.execute(sa.select(scores.churn_score.c.run_id,
                                              scores.churn_score.c.subscriber_id)
                                    .order_by(scores.churn_score.c.run_id,
                                              scores.churn_score.c.rank)).all()
            return {r: [s for run, s in rows if run == r] for r in stored}

        expected = {r: frame["subscriber_id"].tolist() for r, frame in stored.items()}
        assert held() == expected
        if engine.dialect.name == "postgresql":
            assert _run_tables(engine) == _partitions(engine) == {"churn_score_run_1",
                                                                  "churn_score_run_2"}
            for run_id in stored:
                assert _rows(engine, "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE "
                             "conrelid = to_regclass(:part) AND contype = 'c'",
                             part=_partition(run_id)) == [(f"CHECK ((run_id = {run_id}))",)]
                assert _indexes_of(engine, _partition(run_id)) == {
                    f"{_partition(run_id)}_{suffix}": parent
                    for suffix, parent in PARENT_INDEXES.items()}
            with engine.begin() as conn:  # a run being written: a table of its own
                conn.execute(sa.insert(scores.churn_run).values(
                    run_id=3, model_version=VERSION, month="2026-03", complete=False,
                    scored_at=sa.func.current_timestamp(), subscribers=0, base_rate=0.0,
                    created_by="x"))
                layout.for_dialect(engine.dialect).create(conn, 3)
                conn.execute(sa.insert(layout.for_dialect(engine.dialect).table(3)),
                             [{**row, "run_id": 3} for row in _records(stored[1])[:5]])
        with engine.begin() as conn:
            command.downgrade(migrate._config(conn), "0013")
        assert held() == expected
        if engine.dialect.name == "postgresql":
            assert _rows(engine, "SELECT count(*) FROM pg_partitioned_table") == [(0,)]
            assert _run_tables(engine) == set()
            assert _indexes_of(engine, "churn_score") == dict.fromkeys(PARENT_INDEXES.values())
        with engine.begin() as conn:
            command.upgrade(migrate._config(conn), "head")
        assert held() == expected
    finally:
        engine.dispose()
