"""Churn scores as data: one row per subscriber per scoring run, read with SQL by the page.

``churn_run`` describes a scoring run (model version, month, base rate); ``churn_score``
holds its subscribers (branch and micro-region copied in, so scope is a WHERE clause) and
``churn_group_warning`` its enterprise-group warnings. A run is written in short
transactions and marked complete in the last (:func:`save_score_run`): readers see only
complete runs, so all of one or none, and other writers wait at most one chunk. Every
reader narrows to the acting scope in its WHERE clause.

The package: ``tables`` (the tables, a run, a filter), ``writing`` (a run opened, filled,
completed and pruned), ``reading`` (the page's reads) and ``layout``, where a run's rows go
on each dialect: SQLite keeps them in ``churn_score`` itself and deletes an old run a chunk
at a time; on PostgreSQL ``churn_score`` is partitioned by run, a run is written into a
table of its own without indexes, indexed once when complete and attached as its partition
in the transaction that completes it, and an old run's partition is dropped whole.
"""

from __future__ import annotations

from data_access.store.churn_scores.reading import (count_retention, iter_retention,
                                                    latest_run, list_runs, load_actions,
                                                    load_group_warnings, load_retention,
                                                    load_risk_summary, load_subscriber_score)
from data_access.store.churn_scores.tables import (CELL_KEYS, CHUNK_ROWS, EXPORT_COLUMNS,
                                                   KEEP_RUNS, LIST_COLUMNS, SCORE_COLUMNS,
                                                   WARNING_COLUMNS, RetentionFilter, ScoreRun,
                                                   churn_group_warning, churn_run, churn_score,
                                                   churn_score_cell)
from data_access.store.churn_scores.writing import (add_scores, add_scores_in,
                                                    finish_score_run, make_room_in,
                                                    open_score_run, save_score_run,
                                                    score_cells, warm_writer)

__all__ = ["CELL_KEYS", "CHUNK_ROWS", "EXPORT_COLUMNS", "KEEP_RUNS", "LIST_COLUMNS",
           "SCORE_COLUMNS", "WARNING_COLUMNS", "RetentionFilter", "ScoreRun", "add_scores",
           "add_scores_in", "churn_group_warning", "churn_run", "churn_score",
           "churn_score_cell", "count_retention", "finish_score_run", "iter_retention",
           "latest_run", "list_runs", "load_actions", "load_group_warnings", "load_retention",
           "load_risk_summary", "load_subscriber_score", "make_room_in", "open_score_run",
           "save_score_run", "score_cells", "warm_writer"]
