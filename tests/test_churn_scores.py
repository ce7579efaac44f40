"""The churn scores table and the training record, on SQLite and PostgreSQL: one row per
scored subscriber per run, written atomically (a failure half-way leaves nothing), old runs
pruned, writers refused to roles without ``view_mart_admin``, and one training at a time."""

from __future__ import annotations

import os
import threading

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from data_access.db import ConcertoError
from data_access.store import churn as store
from data_access.store import churn_scores as scores
from data_access.store.auth import SYSTEM, Forbidden, Principal
from data_access.store.churn_scores import layout, writing
from data_access.store.scope import acting_as
from data_access.store.workflow import audit_log, create_workflow_engine
from tests.conftest import new_pg_database

MARKETER = Principal("mk", "Marketer", "marketer")
ANALYST = Principal("an", "Analyst", "analyst")


def fake_scores(n: int = 250, seed: int = 0) -> pd.DataFrame:
    """A retention table shaped like the scoring job's (ranked by expected loss)."""
    rng = np.random.default_rng(seed)
    prob = rng.uniform(0.001, 0.3, n).round(5)
    value = rng.normal(200, 150, n).round(2)
    frame = pd.DataFrame({
        "subscriber_id": rng.permutation(np.arange(10_000, 10_000 + n)),
        "branch": rng.choice(["Xiangzhou", "Doumen", "Jinwan"], n),
        "segment": rng.choice(["youth", "family"], n), "group_id": np.nan, "group_name": None,
        "plan_family": "4G", "channel_type": "own_store", "tenure_months": 12, "arpu": 55.0,
        "churn_prob": prob, "net_value": value, "expected_loss": (prob * value).round(2),
        "top_reason": "ARPU down 20% over 3 months", "reasons": "ARPU down 20% over 3 months",
        "reason_tags": "arpu_drop", "action": rng.choice(["", "Data pack [DATA]"], n)})
    frame["micro_region"] = frame["branch"] + "-" + rng.choice(["a", "b"], n)
    frame["risk_band"] = np.where(frame["churn_prob"] > 0.2, "high", "low")
    frame = frame.sort_values(["expected_loss", "churn_prob"], ascending=False)
    frame["rank"] = np.arange(1, n + 1)
    return frame.reset_index(drop=True)


def _count(engine: sa.Engine, table: sa.Table, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)
                            ).scalar_one()


def _rows_of(engine: sa.Engine, run_id: int) -> int:
    """The rows a run holds, open or complete (on PostgreSQL an open run's are in a table of
    its own, not yet churn_score's partition)."""
    table = layout.for_dialect(engine.dialect).table(run_id)
    return _count(engine, table, table.c.run_id == run_id)


def test_a_run_holds_one_row_per_scored_subscriber_with_its_audit_row(workflow):
    frame = fake_scores()
    run = scores.save_score_run(workflow, "churn-20261201-000000", "2026-10", frame,
                                pd.DataFrame(), chunk_rows=60)  # five chunks
    assert _count(workflow, scores.churn_score, scores.churn_score.c.run_id == run.run_id) \
        == len(frame)
    back = scores.load_retention(workflow, run.run_id, limit=10_000,
                                 columns=scores.SCORE_COLUMNS)
    assert back["subscriber_id"].tolist() == frame["subscriber_id"].tolist()
    assert back["rank"].tolist() == list(range(1, len(frame) + 1))
    assert run.base_rate == pytest.approx(frame["churn_prob"].mean())
    assert _count(workflow, audit_log, audit_log.c.action == "churn_run_save") == 1


def test_a_saved_run_leaves_the_planner_statistics_of_its_rows(pg_url, tmp_path):
    """On PostgreSQL the page's first reads after a run get plans made for it (ANALYZE), not
    for the table as it was before a third of it was replaced (SQLite's planner needs none)."""
    with new_pg_database(pg_url, f"stats_{tmp_path.name[-20:].lower()}") as url:
        workflow = create_workflow_engine(url)
        try:
            _analyzed_after_a_run(workflow)
        finally:
            workflow.dispose()


def _analyzed_after_a_run(workflow: sa.Engine) -> None:
    run = scores.save_score_run(workflow, "churn-20261201-000000", "2026-10", fake_scores(),
                                pd.DataFrame())
    partition = f"churn_score_run_{run.run_id}"  # a read names its run: planned on its partition
    with workflow.connect() as conn:
        analyzed = conn.execute(sa.text(
            "SELECT tablename, count(*) FROM pg_stats WHERE tablename IN "
            "(:partition, 'churn_score_cell') GROUP BY tablename"), {"partition": partition}
        ).all()
    assert dict(analyzed).keys() == {partition, "churn_score_cell"}


def test_a_run_that_fails_half_way_leaves_nothing_behind(workflow):
    kept = scores.save_score_run(workflow, "churn-20261201-000000", "2026-09", fake_scores(),
                                 pd.DataFrame())
    broken = fake_scores(seed=1)
    broken.loc[180, "branch"] = None  # NOT NULL: the fourth chunk of 60 fails in the database
    with pytest.raises(sa.exc.IntegrityError):
        scores.save_score_run(workflow, "churn-20261201-000000", "2026-10", broken,
                              pd.DataFrame(), chunk_rows=60)
    assert [r.run_id for r in scores.list_runs(workflow)] == [kept.run_id]
    assert _count(workflow, scores.churn_run) == 1
    assert _count(workflow, scores.churn_score) == len(fake_scores())  # the first run only
    assert _count(workflow, audit_log, audit_log.c.action == "churn_run_save") == 1


def test_a_run_whose_job_died_is_never_read_and_the_next_save_removes_it(workflow,
                                                                          monkeypatch):
    kept = scores.save_score_run(workflow, "churn-20261201-000000", "2026-09", fake_scores(),
                                 pd.DataFrame())
    died = fake_scores(seed=1)
    died.loc[180, "branch"] = None  # the fourth chunk fails …
    with monkeypatch.context() as patch:  # … and the process dies before it cleans up
        patch.setattr(writing, "_delete_runs", lambda *args, **kwargs: None)
        with pytest.raises(sa.exc.IntegrityError):
            scores.save_score_run(workflow, "churn-20261201-000000", "2026-10", died,
                                  pd.DataFrame(), chunk_rows=60)
    with workflow.connect() as conn:
        dead = conn.execute(sa.select(scores.churn_run.c.run_id)
                            .where(scores.churn_run.c.complete.is_(False))).scalar_one()
    assert _rows_of(workflow, dead) == len(fake_scores()) - 70  # 3 chunks in
    assert scores.latest_run(workflow).run_id == kept.run_id  # the half-written run is unseen
    assert [r.run_id for r in scores.list_runs(workflow)] == [kept.run_id]
    later = scores.save_score_run(workflow, "churn-20261201-000000", "2026-10", fake_scores(),
                                  pd.DataFrame())
    assert [r.run_id for r in scores.list_runs(workflow)] == [later.run_id, kept.run_id]
    assert _count(workflow, scores.churn_run) == 2  # the dead run is gone, rows and all
    assert _count(workflow, scores.churn_score) == 2 * len(fake_scores())


def test_other_writers_get_in_between_the_chunks_of_a_large_run(workflow):
    """SQLite has one writer at a time: a run written in one transaction held everyone
    else (a work order, a sign-in) for all its seconds; chunk by chunk, they get in."""
    from data_access.store.audit import record_audit
    from data_access.store.workflow import write_transaction

    done, others, failed = threading.Event(), [], []

    def other_writer() -> None:
        try:
            while not done.is_set():
                with write_transaction(workflow) as conn:
                    record_audit(conn, "someone", "demo_seed", "test", "x", None, None)
                    others.append(conn.execute(sa.select(sa.func.max(audit_log.c.audit_id))
                                               ).scalar())
        except Exception as exc:  # noqa: BLE001 - reported by the test below
            failed.append(exc)

    thread = threading.Thread(target=other_writer)
    thread.start()
    try:
        scores.save_score_run(workflow, "churn-20261201-000000", "2026-10",
                              fake_scores(6_000), pd.DataFrame(), chunk_rows=200)
    finally:
        done.set()
        thread.join()
    with workflow.connect() as conn:
        ids = dict(conn.execute(sa.select(audit_log.c.action, audit_log.c.audit_id).where(
            audit_log.c.action.in_(["churn_run_start", "churn_run_save"]))).all())
    assert not failed, failed
    between = [i for i in others if ids["churn_run_start"] < i < ids["churn_run_save"]]
    assert between, "no other write landed while the run was written"


def test_only_the_newest_runs_are_kept(workflow):
    runs = [scores.save_score_run(workflow, "churn-20261201-000000", month, fake_scores(50),
                                  pd.DataFrame(), keep=2, chunk_rows=20)  # 3 chunks each way
            for month in ("2026-08", "2026-09", "2026-10")]
    assert [r.run_id for r in scores.list_runs(workflow)] == [runs[2].run_id, runs[1].run_id]
    assert _count(workflow, scores.churn_score) == 100
    assert _count(workflow, audit_log, audit_log.c.action == "churn_run_prune") == 1


def test_saving_scores_and_training_need_view_mart_admin(workflow):
    with acting_as(MARKETER):
        with pytest.raises(Forbidden):
            scores.save_score_run(workflow, "churn-20261201-000000", "2026-10",
                                  fake_scores(10), pd.DataFrame())
        with pytest.raises(Forbidden):
            store.claim_training(workflow)
    assert _count(workflow, scores.churn_run) == 0
    assert _count(workflow, store.churn_training) == 0


def test_a_second_training_is_refused_while_one_runs(workflow):
    with acting_as(ANALYST):
        first = store.claim_training(workflow)
        store.record_training_step(workflow, first, "fitting", pid=os.getpid())  # alive
        with pytest.raises(ConcertoError, match="already running .*started by an.*fitting"):
            store.claim_training(workflow)
        store.finish_training(workflow, first, "done", "model x is live")
        second = store.claim_training(workflow)  # finished: a new one may start
    assert second != first
    record = store.current_training(workflow)
    assert record["training_id"] == second and record["alive"]


def test_a_training_whose_process_died_does_not_block_the_next(workflow):
    with acting_as(ANALYST):
        dead = store.claim_training(workflow)
        store.record_training_step(workflow, dead, "fitting", pid=2**22 + 12345)  # no such pid
        assert not store.current_training(workflow)["alive"]
        store.claim_training(workflow)
    with workflow.connect() as conn:
        status = conn.execute(sa.select(store.churn_training.c.status).where(
            store.churn_training.c.training_id == dead)).scalar_one()
    assert status == "failed"


def test_two_starts_at_the_same_moment_start_one_training(workflow):
    outcomes: list[object] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        with acting_as(ANALYST):
            barrier.wait()
            try:
                outcomes.append(store.claim_training(workflow))
            except ConcertoError as exc:
                outcomes.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(o, int) for o in outcomes) == 1, outcomes
    assert _count(workflow, store.churn_training) == 1


def test_the_system_principal_may_write_scores(workflow):
    with acting_as(SYSTEM):
        run = scores.save_score_run(workflow, "churn-20261201-000000", "2026-10",
                                    fake_scores(5), pd.DataFrame())
    assert scores.latest_run(workflow, "churn-20261201-000000", "2026-10") == run


@pytest.mark.parametrize("filters", [
    scores.RetentionFilter(), scores.RetentionFilter(branch="Doumen"),
    scores.RetentionFilter(micro_region="Jinwan-b", segment="youth"),
    scores.RetentionFilter(action="Data pack [DATA]"),
    scores.RetentionFilter(branch="Xiangzhou", segment="family", action=""),
], ids=["all", "branch", "region and segment", "tactic", "no tactic"])
def test_the_pages_counts_from_cells_equal_counting_the_scores(workflow, filters):
    frame = fake_scores(900, seed=4)
    frame.loc[frame.index[::7], "segment"] = None  # a missing segment is a cell of its own
    run = scores.save_score_run(workflow, "churn-20261201-000000", "2026-10", frame,
                                pd.DataFrame())
    keep = pd.Series(True, index=frame.index)
    for column in ("branch", "micro_region", "segment", "action"):
        if getattr(filters, column) is not None:
            keep &= frame[column] == getattr(filters, column)
    expected = (frame[keep].groupby(["branch", "micro_region", "segment", "risk_band"],
                                    dropna=False)
                .agg(subscribers=("subscriber_id", "size"),
                     expected_loss=("expected_loss", "sum")).reset_index())
    with acting_as(MARKETER):
        got = scores.load_risk_summary(workflow, run.run_id, filters)
        assert scores.count_retention(workflow, run.run_id, filters) == int(keep.sum())
        assert scores.load_actions(workflow, run.run_id) == ["Data pack [DATA]"]
    key = ["branch", "micro_region", "segment", "risk_band"]
    got = got.sort_values(key, na_position="first").reset_index(drop=True)
    expected = expected.sort_values(key, na_position="first").reset_index(drop=True)
    assert got["subscribers"].tolist() == expected["subscribers"].tolist()
    assert got[key].astype(object).where(got[key].notna(), None).values.tolist() == \
        expected[key].astype(object).where(expected[key].notna(), None).values.tolist()
    assert np.allclose(got["expected_loss"], expected["expected_loss"])
    # a minimum risk is answered from the scores themselves, and agrees
    risky = scores.RetentionFilter(**{**filters.__dict__, "min_prob": 0.2})
    with acting_as(MARKETER):
        n_risky = scores.count_retention(workflow, run.run_id, risky)
        by_band = scores.load_risk_summary(workflow, run.run_id, risky)
    assert n_risky == int((keep & (frame["churn_prob"] >= 0.2)).sum()) == \
        by_band["subscribers"].sum()


def test_a_finished_run_takes_no_more_rows_and_a_short_one_cannot_finish(workflow):
    frame = fake_scores(100)
    with acting_as(SYSTEM):
        with pytest.raises(ValueError, match="holds 60 rows, not the 100 scored"), \
                scores.open_score_run(workflow, "churn-20261201-000000", "2026-10") as run_id:
            scores.add_scores(workflow, run_id, frame.iloc[:60], chunk_rows=25)
            assert scores.latest_run(workflow) is None  # open: nobody reads it
            scores.finish_score_run(workflow, run_id, frame, pd.DataFrame())
        assert _count(workflow, scores.churn_run) == 0  # abandoned, rows and all
        assert _count(workflow, scores.churn_score) == 0
        with scores.open_score_run(workflow, "churn-20261201-000000", "2026-10") as run_id:
            scores.add_scores(workflow, run_id, frame.iloc[60:])
            scores.add_scores(workflow, run_id, frame.iloc[:60])  # in any order
            run = scores.finish_score_run(workflow, run_id, frame, pd.DataFrame())
        assert (run.subscribers, scores.latest_run(workflow).run_id) == (100, run_id)
        assert run.base_rate == pytest.approx(frame["churn_prob"].mean())
        with pytest.raises(ValueError, match="is not open"):
            scores.add_scores(workflow, run_id, frame.iloc[:1])
    assert _count(workflow, scores.churn_score, scores.churn_score.c.run_id == run_id) == 100


def test_room_is_made_for_a_new_run_without_touching_it(workflow):
    url = workflow.url.render_as_string(hide_password=False)
    with acting_as(SYSTEM):
        kept = [scores.save_score_run(workflow, "churn-20261201-000000", f"2026-0{m}",
                                      fake_scores(40), pd.DataFrame()).run_id for m in (6, 7, 8)]
        with scores.open_score_run(workflow, "churn-20261201-000000", "2026-09") as run_id:
            scores.add_scores(workflow, run_id, fake_scores(40).iloc[:10])
            scores.make_room_in(url, SYSTEM, keep=3)
            assert [r.run_id for r in scores.list_runs(workflow)] == kept[:0:-1]  # oldest gone
            assert _rows_of(workflow, run_id) == 10
            scores.add_scores(workflow, run_id, fake_scores(40).iloc[10:])
            scores.finish_score_run(workflow, run_id, fake_scores(40), pd.DataFrame(), keep=3)
    assert [r.run_id for r in scores.list_runs(workflow)] == [run_id, *kept[:0:-1]]
    with pytest.raises(Forbidden):
        scores.make_room_in(url, MARKETER, keep=3)
    assert _count(workflow, scores.churn_run) == 3


def test_the_bulk_writers_of_a_sqlite_store_have_a_larger_page_cache(tmp_path, monkeypatch):
    """The score job's engines (its own and the writer process's, ``_store_at``) give SQLite
    a 64 MB page cache; the app's engines keep SQLite's default (each pooled connection
    would keep its own)."""
    from data_access.store.workflow import BULK_CACHE_KIB, create_workflow_engine

    url = f"sqlite:///{tmp_path / 'store.sqlite'}"

    def cache_kib(engine: sa.Engine) -> int:
        with engine.connect() as conn:
            return -int(conn.exec_driver_sql("PRAGMA cache_size").scalar())

    plain, bulk = create_workflow_engine(url), create_workflow_engine(url, bulk=True)
    assert (cache_kib(plain), cache_kib(bulk)) == (2000, BULK_CACHE_KIB)
    with writing._store_at(url, SYSTEM) as writer:
        assert cache_kib(writer) == BULK_CACHE_KIB
    for engine in (plain, bulk):
        engine.dispose()
