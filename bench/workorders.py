"""Benchmark: work-order creation and transition throughput, and the queue query at 100,000
orders, on the embedded SQLite store and on PostgreSQL.

    python -m bench.workorders [--orders 100000] [--writes 1000] [--threads 4] [--queries 200]

Creation and transitions go through the same functions the app calls (validation, versioned
update, history row and audit row in one transaction each). The 100,000 orders behind the
queue query are bulk-inserted with their history, spread over 12 users and 17 micro-regions;
the query is ``list_orders`` for a front-line queue, a regional manager's scope and an
analyst's whole view, timed ``--queries`` times each. Writes a section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from analytics.ops import workorders as rules
from bench.results import record_section
from data_access.store import auth
from data_access.store import order_actions
from data_access.store import workorders
from data_access.store.auth import Principal
from data_access.store.demo_users import DEMO_USERS, seed_demo_users
from data_access.store.workflow import create_workflow_engine
from tests.pgserver import private_server

PEOPLE = {u: Principal(u, name, role, level, value) for u, role, name, level, value in DEMO_USERS}
REGIONS = [("Xiangzhou", r) for r in ("Gongbei", "Jida", "Nanping", "Qianshan", "Tangjiawan",
                                      "Hengqin", "Cuiwei", "Wanzai")] + \
          [("Doumen", r) for r in ("Jing'an", "Baijiao", "Qianwu", "Doumen Town", "Lianzhou")] + \
          [("Jinwan", r) for r in ("Sanzao", "Hongqi", "Pingsha", "Nanshui")]
ASSIGNEES = ["channel_mgr", "account_mgr", "marketer", "rm_xiangzhou", "rm_gongbei", "analyst",
             "admin", "exec"] + [f"staff{i}" for i in range(4)]


def _create(engine: sa.Engine, n: int) -> int:
    branch, region = REGIONS[n % len(REGIONS)]
    return workorders.create_order(
        engine, PEOPLE["admin"], kind="task", title=f"bench order {n}", unit_level="micro_region",
        unit_key=region, unit_label=region, branch=branch, micro_region=region,
        owner_role="channel_manager", assignee="channel_mgr",
        due_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=48))


def _parallel(work, count: int, threads: int) -> float:
    """Run work(i) for i < count on ``threads`` threads; returns operations per second."""
    chunks = [range(t, count, threads) for t in range(threads)]
    errors: list[BaseException] = []

    def run(chunk: range) -> None:
        try:
            for i in chunk:
                work(i)
        except BaseException as exc:  # noqa: BLE001 — reported after the join
            errors.append(exc)

    pool = [threading.Thread(target=run, args=(c,)) for c in chunks]
    started = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]
    return count / (time.perf_counter() - started)


def _writes(engine: sa.Engine, count: int, threads: int) -> dict[str, float]:
    worker = PEOPLE["channel_mgr"]
    single = _parallel(lambda i: _create(engine, i), count, 1)
    many = _parallel(lambda i: _create(engine, count + i), count, threads)
    ids = [int(i) for i in workorders.list_orders(engine, None, limit=3 * count)["order_id"]]

    def walk(i: int) -> None:  # accept → start → resolve, three versioned moves
        order = workorders.load_order(engine, None, ids[i])
        for action, note in (("accept", ""), ("start", ""), ("resolve", "bench")):
            order = order_actions.transition(engine, worker, order["order_id"], action,
                                             version=order["version"], note=note)

    moves = 3 * _parallel(walk, min(count, len(ids)), threads)
    return {"create_1": single, f"create_{threads}": many, f"move_{threads}": moves}


def _bulk(engine: sa.Engine, total: int, seed: int = 7) -> None:
    """Insert ``total`` orders (states spread over the lifecycle) and one history row each."""
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    states = list(rules.STATES)
    o, e = workorders.work_order, workorders.work_order_event
    with engine.begin() as conn:
        start = conn.execute(sa.select(sa.func.coalesce(sa.func.max(o.c.order_id), 0))).scalar()
    batch = 5_000
    for first in range(0, total, batch):
        rows, events = [], []
        for k in range(first, min(first + batch, total)):
            branch, region = REGIONS[rng.randrange(len(REGIONS))]
            created = now - dt.timedelta(hours=rng.uniform(0, 24 * 180))
            order_id = start + k + 1
            rows.append(dict(
                order_id=order_id, kind=rng.choice(list(rules.KINDS)), title=f"order {k}",
                detail="", state=rng.choice(states), priority=rng.choice(rules.PRIORITIES),
                unit_level="micro_region", unit_key=region, unit_label=region, branch=branch,
                micro_region=region, metric="revenue", owner_role="regional_manager",
                assignee=rng.choice(ASSIGNEES), created_by="system", created_at=created,
                due_at=created + dt.timedelta(hours=48), dispatched_at=created, version=1))
            events.append(dict(order_id=order_id, at=created, actor="system", action="create",
                               from_state=None, to_state="new", note=""))
        with engine.begin() as conn:
            conn.execute(sa.insert(o), rows)
            conn.execute(sa.insert(e), events)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('work_order', 'order_id'),"
                                 " (SELECT max(order_id) FROM work_order))")
            conn.exec_driver_sql("ANALYZE")


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18]


def _queue(engine: sa.Engine, runs: int) -> dict[str, tuple[float, float, int]]:
    views = {"front-line queue (mine, open)": (PEOPLE["channel_mgr"], "mine",
                                               ("dispatched", "accepted", "in_progress")),
             "regional manager (Gongbei, all states)": (PEOPLE["rm_gongbei"], "visible", None),
             "analyst (everything, first 500)": (PEOPLE["analyst"], "visible", None)}
    out = {}
    for name, (who, view, states) in views.items():
        samples, rows = [], 0
        for _ in range(runs):
            started = time.perf_counter()
            frame = workorders.list_orders(engine, who, view=view, states=states, limit=500)
            samples.append((time.perf_counter() - started) * 1000)
            rows = len(frame)
        out[name] = (statistics.median(samples), _p95(samples), rows)
    return out


def _one_store(url: str, args: argparse.Namespace) -> tuple[dict, dict]:
    engine = create_workflow_engine(url)
    seed_demo_users(engine)
    writes = _writes(engine, args.writes, args.threads)
    _bulk(engine, args.orders - 2 * args.writes)  # the writes above made 2 × writes orders
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(workorders.work_order)
                             ).scalar_one()
    queue = _queue(engine, args.queries)
    engine.dispose()
    return writes, {"orders": total, **queue}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--writes", type=int, default=1_000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    auth.BCRYPT_ROUNDS = 4  # the demo users' hashing is not what is measured
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["SQLite (WAL, embedded)"] = _one_store(
            f"sqlite:///{Path(tmp) / 'bench.sqlite'}", args)
    with private_server() as url:
        results["PostgreSQL 15"] = _one_store(url, args)
    t = args.threads
    lines = ["| store | create, 1 thread | create, %d threads | moves, %d threads |" % (t, t),
             "| --- | ---: | ---: | ---: |"]
    for store, (writes, _) in results.items():
        lines.append(f"| {store} | {writes['create_1']:,.0f}/s | {writes[f'create_{t}']:,.0f}/s"
                     f" | {writes[f'move_{t}']:,.0f}/s |")
    lines += ["", "| store | orders | queue query | rows | median ms | p95 ms |",
              "| --- | ---: | --- | ---: | ---: | ---: |"]
    for store, (_, queue) in results.items():
        for name, value in queue.items():
            if name == "orders":
                continue
            median, p95, rows = value
            lines.append(f"| {store} | {queue['orders']:,} | {name} | {rows} | {median:.1f} | "
                         f"{p95:.1f} |")
    body = "\n".join(lines)
    print(body)
    record_section(
        "workorders", "## Work orders (issue 5)", body,
        intro=f"`python -m bench.workorders` ({args.writes:,} orders created one at a time and "
              f"again on {t} threads, each then accepted, started and resolved on {t} threads — "
              "each write is one transaction with its history and audit rows; then the store "
              f"is filled to {args.orders:,} orders and `list_orders` timed {args.queries} times "
              "per view). Two cores; PostgreSQL runs locally with fsync off (as in the tests), "
              "SQLite with its defaults in WAL mode.")
    return 0


if __name__ == "__main__":
    from data_access.store.scope import as_system  # a command-line tool: the system acts

    raise SystemExit(as_system(main)())
