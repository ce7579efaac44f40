"""A private PostgreSQL server in a temporary directory (tests and benchmarks use it)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; run its tools as the postgres user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@contextmanager
def _server(bindir: Path, settings: dict[str, str], keep: bool) -> Iterator[str]:
    datadir = Path(tempfile.mkdtemp(prefix="concerto-pg-", dir="/tmp"))
    if os.geteuid() == 0:
        shutil.chown(datadir, "postgres", "postgres")
    port = _free_port()
    subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres",
                                 "--auth=trust", "-E", "UTF8"]),
                   check=True, capture_output=True)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {datadir} -c fsync=off"
    options += "".join(f" -c {name}={value}" for name, value in settings.items())  # last wins
    subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(datadir), "-l",
                                 str(datadir / "log"), "-w", "-o", options, "start"]),
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        if not keep:
            subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(datadir), "-m",
                                         "fast", "stop"]), capture_output=True)
            shutil.rmtree(datadir, ignore_errors=True)


def private_server(settings: dict[str, str] | None = None, *, keep: bool = False):
    """A context manager yielding the URL of a fresh server in a directory under /tmp (fsync
    off unless ``settings``, server settings by name, say otherwise: for tests and benches);
    ``keep`` leaves it running and its directory in place at the end.

    Raises FileNotFoundError when PostgreSQL's binaries are not installed.
    """
    bindir = _pg_bin()
    if bindir is None:
        raise FileNotFoundError("initdb")
    return _server(bindir, dict(settings or {}), keep)
