"""How long each script run took on the server (``CONCERTO_RUN_LOG``), for the load test and
for finding slow pages in production.

With ``CONCERTO_RUN_LOG=path`` set, every run of app.py and every fragment that reruns alone
appends one JSON line to ``path``::

    {"kind": "app", "page": "channels", "role": "channel_manager", "start": 1765060000.1,
     "wall_s": 0.84, "cpu_s": 0.31, "ended": "done"}

``wall_s`` is the run's wall time on the server, ``cpu_s`` the CPU time of the script's own
thread (a DuckDB query's helper threads are not in it; the time the thread waited for the
interpreter lock or a core is in ``wall_s`` only). ``ended`` is ``done``, or how the run was
cut short: ``RerunException`` (``st.rerun``, ``st.switch_page``), ``StopException``
(``st.stop``). Unset, nothing is timed or written; a file that cannot be written is
logged as a warning and the page runs as usual.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator

ENV = "CONCERTO_RUN_LOG"
_write = threading.Lock()
_log = logging.getLogger(__name__)


@contextlib.contextmanager
def timed_run(kind: str, page: str = "") -> Iterator[dict[str, object]]:
    """Time the block as one run of ``kind`` (``app`` or ``fragment``); the caller may add
    ``page`` and ``role`` to the yielded record while it runs."""
    path = os.environ.get(ENV)
    record: dict[str, object] = {"kind": kind, "page": page}
    if not path:
        yield record
        return
    record["start"] = time.time()
    wall, cpu, ended = time.perf_counter(), time.thread_time(), "done"
    try:
        yield record
    except BaseException as exc:  # a rerun or stop ends the run early: still one run
        ended = type(exc).__name__
        raise
    finally:
        record.update(wall_s=round(time.perf_counter() - wall, 4),
                      cpu_s=round(time.thread_time() - cpu, 4), ended=ended)
        line = json.dumps(record, default=str) + "\n"
        try:
            with _write, open(path, "a", encoding="utf-8") as sink:
                sink.write(line)
        except OSError as exc:  # a timing file that cannot be written never breaks a page
            _log.warning("%s=%s cannot be written (%s): this run is not timed", ENV, path, exc)

