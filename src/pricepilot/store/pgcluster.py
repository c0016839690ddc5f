"""A private, throwaway PostgreSQL cluster on a free loopback port, for tests, benchmarks and demos.

It needs the server binaries (``initdb``, ``pg_ctl``) on PATH or under ``/usr/lib/postgresql/*/bin``
(Debian's ``postgresql`` package); run as root, the cluster runs as the ``postgres`` user. Nothing of
it outlives the ``with`` block: the server is stopped and its directory removed.

>>> with private_cluster() as url:  # doctest: +SKIP
...     engine = make_engine(url)
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class ClusterUnavailableError(RuntimeError):
    """No PostgreSQL server binaries here, or no ``postgres`` user to run them as root."""


def server_bindir() -> Path:
    """The folder of the newest ``pg_ctl`` on PATH or under ``/usr/lib/postgresql/*/bin``.

    Raises
    ------
    ClusterUnavailableError
        When there is none.
    """
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3].split(".")[0])
    )
    if not candidates:
        raise ClusterUnavailableError(
            "no PostgreSQL server binaries (pg_ctl) on PATH or under /usr/lib/postgresql "
            "(Debian: apt-get install postgresql)"
        )
    return Path(candidates[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *argv]
    return ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(argv)]


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(_as_server_user(argv), capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{what} failed (exit {done.returncode}): {done.stderr.strip() or done.stdout}")


@contextmanager
def private_cluster(fsync: bool = True) -> Iterator[str]:
    """Start a cluster, yield its SQLAlchemy URL (database ``postgres``, user ``postgres``, trust
    authentication on 127.0.0.1), then stop it and remove it.

    Parameters
    ----------
    fsync : keep PostgreSQL's ``fsync`` on (durable, as in production); off makes tests faster

    Raises
    ------
    ClusterUnavailableError
        When the server binaries, or (as root) the ``postgres`` user, are missing.
    RuntimeError
        When ``initdb`` or ``pg_ctl start`` fails (their error output is in the message).
    """
    bindir = server_bindir()
    owner = None
    if os.geteuid() == 0:
        import pwd

        try:
            owner = pwd.getpwnam("postgres")
        except KeyError as err:
            raise ClusterUnavailableError(
                "running as root and there is no 'postgres' user for the cluster"
            ) from err
    root = Path(tempfile.mkdtemp(prefix="pricepilot-pg-"))
    data = root / "data"
    try:
        if owner is not None:
            os.chown(root, owner.pw_uid, owner.pw_gid)
        _run(
            [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            "initdb",
        )
        port = _free_port()
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1" + ("" if fsync else " -c fsync=off")
        start = [
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(root / "log"),
            "-o",
            options,
            "-w",
            "start",
        ]
        _run(start, "pg_ctl start")
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            stop = [str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast" if fsync else "immediate", "stop"]
            subprocess.run(_as_server_user(stop), capture_output=True, check=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)
