"""A private PostgreSQL primary and a streaming replica of it, for the ``--read-db`` tests.

The machine's server (127.0.0.1:5432) cannot be a replication primary without editing its pg_hba.conf,
which is the host's configuration, not ours. So this starts a cluster of its own: ``initdb`` into a
temporary directory (trust auth for loopback, including replication connections), ``pg_ctl start`` on a
free loopback port, ``pg_basebackup -R -X stream`` for the replica (``-R`` writes ``standby.signal``
and ``primary_conninfo``), the replica started on another port, and a wait until the primary's
``pg_stat_replication`` shows it streaming. Both servers are stopped (``-m immediate``: nothing in them
is worth a clean shutdown) and their directories removed on the way out, on failure too.

PostgreSQL refuses to run as root. When the tests run as root (CI does), every server binary runs as
the ``postgres`` OS user through ``runuser``; otherwise as the current user. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

#: Seconds any one step (initdb, start, base backup, a wait for replication) may take.
STEP_TIMEOUT_S = 120.0


class ReplicaSetupError(RuntimeError):
    """The private primary or its replica could not be started (the test fails, it is not skipped)."""


def server_bin() -> Path:
    """The newest installed PostgreSQL's binary directory (``/usr/lib/postgresql/<version>/bin``), or
    the directory of ``pg_ctl`` on the PATH."""
    found = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.name)],
    )
    if found:
        return found[-1]
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        return Path(pg_ctl).parent
    raise ReplicaSetupError(
        "no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql or on PATH"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Replication:
    """A running primary and replica: server URLs (append ``/DBNAME``) and the controls a test needs."""

    primary: str
    replica: str
    root: Path
    cluster: _Cluster

    def admin(
        self, which: str = "primary", dbname: str = "postgres"
    ) -> psycopg.Connection[tuple[object, ...]]:
        base = self.primary if which == "primary" else self.replica
        return psycopg.connect(f"{base}/{dbname}", autocommit=True, connect_timeout=10)

    def create_database(self, name: str) -> str:
        """A new database on the primary; its URL. The replica gets it by replaying the WAL."""
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"{self.primary}/{name}"

    def pause(self) -> None:
        """Stop replaying WAL on the replica: from now on it lags, deterministically."""
        with self.admin("replica") as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
            deadline = time.monotonic() + STEP_TIMEOUT_S
            while conn.execute("SELECT pg_get_wal_replay_pause_state()").fetchone() != ("paused",):
                if time.monotonic() > deadline:
                    raise ReplicaSetupError("the replica did not pause its WAL replay")
                time.sleep(0.05)

    def resume(self) -> None:
        with self.admin("replica") as conn:
            conn.execute("SELECT pg_wal_replay_resume()")

    def catch_up(self) -> None:
        """Wait (bounded) until the replica has replayed everything the primary has put in its WAL so far,
        committed or not (the insert position: a lock held by an open transaction counts too)."""
        with self.admin() as conn:
            row = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
        assert row is not None
        target = row[0]
        deadline = time.monotonic() + STEP_TIMEOUT_S
        with self.admin("replica") as conn:
            while True:
                done = conn.execute(
                    "SELECT pg_last_wal_replay_lsn() >= CAST(%s AS pg_lsn)", (target,)
                ).fetchone()
                if done == (True,):
                    return
                if time.monotonic() > deadline:
                    raise ReplicaSetupError(
                        f"the replica did not replay up to {target} in {STEP_TIMEOUT_S} s"
                    )
                time.sleep(0.05)

    def stop_replica(self) -> None:
        """Stop the replica's server (``-m immediate``, as a crash would): its port refuses connections."""
        self.cluster.stop(self.root / "replica")

    def start_replica(self) -> None:
        """Start the replica again on its port; it resumes streaming from where it was."""
        port = int(self.replica.rsplit(":", 1)[1])
        self.cluster.start(self.root / "replica", port=port)
        _wait_streaming(self.primary)

    def paused(self) -> bool:
        with self.admin("replica") as conn:
            return conn.execute("SELECT pg_is_wal_replay_paused()").fetchone() == (True,)


class _Cluster:
    """Runs the server binaries as an unprivileged user and remembers what it started."""

    def __init__(self, root: Path) -> None:
        self.bin = server_bin()
        self.root = root
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise ReplicaSetupError("running as root and runuser is missing: cannot start PostgreSQL")
            try:
                import pwd

                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise ReplicaSetupError(
                    "running as root and there is no postgres user to run the server"
                ) from None
            os.chown(root, pw.pw_uid, pw.pw_gid)
            self.as_user = [runuser, "-u", "postgres", "--"]
        self.started: list[Path] = []

    def run(self, tool: str, *args: str) -> None:
        cmd = [*self.as_user, str(self.bin / tool), *args]
        try:
            proc = subprocess.run(
                cmd, capture_output=True, timeout=STEP_TIMEOUT_S, cwd=self.root, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise ReplicaSetupError(f"{tool} took over {STEP_TIMEOUT_S} s") from exc
        if proc.returncode != 0:
            out = (proc.stdout + proc.stderr).decode(errors="replace")
            raise ReplicaSetupError(f"{tool} {' '.join(args)} failed ({proc.returncode}):\n{out}")

    def start(self, data: Path, port: int | None = None) -> int:
        """Start the server of ``data`` on ``port`` or a free loopback port (a few tries: a port picked
        free can be taken by someone else before the server binds it); the port."""
        log = self.root / f"{data.name}.log"
        given = port
        for attempt in range(3):
            port = given or _free_port()
            opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {self.root} -c fsync=off"
            try:
                self.run("pg_ctl", "start", "-w", "-t", str(int(STEP_TIMEOUT_S)), "-D", str(data),
                         "-l", str(log), "-o", opts)  # fmt: skip
            except ReplicaSetupError:
                if attempt == 2:
                    text = log.read_text(errors="replace") if log.exists() else ""
                    raise ReplicaSetupError(f"cannot start the server of {data}:\n{text}") from None
                continue
            self.started.append(data)
            return port
        raise AssertionError("unreachable")

    def stop(self, data: Path) -> None:
        self.run("pg_ctl", "stop", "-m", "immediate", "-w", "-t", "60", "-D", str(data))
        self.started.remove(data)

    def stop_all(self) -> None:
        for data in reversed(self.started):
            with contextlib.suppress(ReplicaSetupError):
                self.run("pg_ctl", "stop", "-m", "immediate", "-w", "-t", "60", "-D", str(data))
        self.started.clear()


def _wait_streaming(url: str) -> None:
    deadline = time.monotonic() + STEP_TIMEOUT_S
    with psycopg.connect(f"{url}/postgres", autocommit=True, connect_timeout=10) as conn:
        while True:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
            ).fetchone()
            if row is not None and row[0] >= 1:
                return
            if time.monotonic() > deadline:
                raise ReplicaSetupError(f"the replica was not streaming after {STEP_TIMEOUT_S} s")
            time.sleep(0.1)


@contextlib.contextmanager
def streaming_replica() -> Iterator[Replication]:
    """A private primary and a streaming replica, torn down on exit (on failure too)."""
    root = Path(tempfile.mkdtemp(prefix="reetrace-replica-"))
    cluster: _Cluster | None = None
    try:
        cluster = _Cluster(root)
        primary_dir, replica_dir = root / "primary", root / "replica"
        cluster.run("initdb", "-D", str(primary_dir), "-U", "postgres", "-A", "trust", "--no-sync",
                    "-E", "UTF8", "--locale=C")  # fmt: skip
        # Loopback only; replication connections allowed, which is what the machine's server lacks.
        (primary_dir / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n"
        )
        with (primary_dir / "postgresql.conf").open("a") as fh:
            fh.write("\nwal_level = replica\nmax_wal_senders = 4\nhot_standby = on\n")
        primary_port = cluster.start(primary_dir)
        primary = f"postgresql://postgres@127.0.0.1:{primary_port}"
        cluster.run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary_port), "-U", "postgres",
                    "-D", str(replica_dir), "-R", "-X", "stream", "--checkpoint=fast", "--no-sync")  # fmt: skip
        replica_port = cluster.start(replica_dir)
        _wait_streaming(primary)
        yield Replication(primary, f"postgresql://postgres@127.0.0.1:{replica_port}", root, cluster)
    finally:
        if cluster is not None:
            cluster.stop_all()
        shutil.rmtree(root, ignore_errors=True)
