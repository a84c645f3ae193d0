"""A real ``reetrace`` service for tests: uvicorn in a subprocess on 127.0.0.1, an ephemeral port.

The server runs in its own process so that a test can SIGKILL it mid-upload. Its port is read from
uvicorn's start-up line; every wait is bounded in time.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

import reetrace

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
_RUNNING = re.compile(rb"Uvicorn running on http://127\.0\.0\.1:(\d+)")
START_TIMEOUT_S = 60.0


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    log: list[bytes] = field(default_factory=list)
    drain: threading.Thread | None = None

    def client(self, token: str | None = None, timeout: float = 60.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)
        self._close()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=20)
        self._close()

    def _close(self) -> None:
        if self.drain is not None:
            self.drain.join(timeout=20)
        if self.proc.stderr is not None and not self.proc.stderr.closed:
            self.proc.stderr.close()

    def text_log(self) -> str:
        return b"".join(self.log).decode(errors="replace")


def start_server(
    db: str,
    *,
    max_upload_mb: float = 8,
    lock_timeout: float = 5.0,
    workers: int = 1,
    read_db: str | None = None,
    log_key: str | os.PathLike[str] | None = None,
) -> Server:
    """Start ``uvicorn reetrace.service.app:app_from_env`` over ``db``; return once it answers. With
    ``log_key`` (the log's private key file, through ``REETRACE_LOG_KEY``) it signs receipts and
    publishes its checkpoint."""
    env = {
        **os.environ,
        "REETRACE_DB": db,
        "REETRACE_MAX_UPLOAD_MB": str(max_upload_mb),
        "REETRACE_LOCK_TIMEOUT": str(lock_timeout),
    }
    env.pop("REETRACE_READ_DB", None)
    env.pop("REETRACE_LOG_KEY", None)
    if read_db:
        env["REETRACE_READ_DB"] = read_db
    if log_key is not None:
        env["REETRACE_LOG_KEY"] = str(log_key)
    cmd = [
        sys.executable, "-m", "uvicorn", "reetrace.service.app:app_from_env", "--factory",
        "--host", "127.0.0.1", "--port", "0", "--workers", str(workers), "--log-level", "info",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log: list[bytes] = []
    port: list[int] = []
    ready = threading.Event()

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.append(line)
            m = _RUNNING.search(line)
            if m and not port:
                port.append(int(m.group(1)))
                ready.set()
        ready.set()

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    if not ready.wait(START_TIMEOUT_S) or not port:
        Server("", proc, log, thread).kill()
        raise RuntimeError("the service did not start:\n" + b"".join(log).decode(errors="replace"))
    server = Server(f"http://127.0.0.1:{port[0]}", proc, log, thread)
    deadline = time.monotonic() + START_TIMEOUT_S
    for _ in range(600):  # bounded: health answers within the start-up deadline
        try:
            if httpx.get(f"{server.url}/health", timeout=5).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    server.stop()
    raise RuntimeError("the service never became healthy:\n" + server.text_log())


@dataclass
class World:
    """A store with the examples' registry and month, and a token per role."""

    db: str
    tokens: dict[str, str]
    token_ids: dict[str, str]
    envelopes: dict[str, int]


ENTERPRISES = ("NMMINE", "GXIMP", "NMSEP", "NBMET", "NBMAG")
A, B = "NBMAG", "NMSEP"  # enterprise A holds the magnet lot; B is a supplier upstream of it


def build_world(db: str) -> World:
    """Registry, the five example submissions, principals of every role and their tokens."""
    from datetime import UTC, datetime

    store = reetrace.open_store(db)
    try:
        reetrace.load_registry(store, reetrace.parse_registry(str(EXAMPLES / "registry.json")))
        envelopes = {}
        for ent in ENTERPRISES:
            res = reetrace.submit(
                store, str(EXAMPLES / f"{ent}-2025-03.jsonl"), enterprise=ent, period="2025-03",
                received_at=datetime(2025, 4, 8, 1, 30, tzinfo=UTC),
            )  # fmt: skip
            assert res.position is not None
            envelopes[ent] = res.position
        reetrace.add_principal(store, "operator", "admin")
        reetrace.add_principal(store, "inspector-1", "inspector")
        reetrace.add_principal(store, "ent-a", "enterprise", enterprise=A)
        reetrace.add_principal(store, "ent-b", "enterprise", enterprise=B)
        tokens: dict[str, str] = {}
        ids: dict[str, str] = {}
        for role, who in (
            ("admin", "operator"),
            ("inspector", "inspector-1"),
            ("A", "ent-a"),
            ("B", "ent-b"),
        ):
            t = reetrace.issue_token(store, who)
            tokens[role], ids[role] = t.token, t.id
        revoked = reetrace.issue_token(store, "ent-a")
        reetrace.revoke_token(store, revoked.id)
        tokens["revoked"], ids["revoked"] = revoked.token, revoked.id
        expired = reetrace.issue_token(store, "ent-a", expires_at=datetime(2025, 1, 1, tzinfo=UTC))
        tokens["expired"], ids["expired"] = expired.token, expired.id
    finally:
        store.dispose()
    return World(db, tokens, ids, envelopes)


def head(db: str | reetrace.Store) -> tuple[int, bytes]:
    """The head of the log (a store to reuse, or a URL to open one for this call)."""
    if not isinstance(db, str):
        return db.head()
    store = reetrace.open_store(db)
    try:
        return store.head()
    finally:
        store.dispose()


def extract_month(period: str, tag: str, events: int = 1, *, enterprise: str = "NMMINE") -> bytes:
    """A valid month of the example mine: ``events`` extractions, each creating a new lot."""
    lines = []
    for i in range(events):
        day = 1 + i % 28
        lines.append(orjson.dumps({
            "event_id": f"{tag}-{i}", "type": "extract", "enterprise": enterprise, "site": "BO-MINE",
            "occurred_at": f"{period}-{day:02d}T10:00:00+08:00",
            "outputs": [{"lot": f"{tag}-LOT-{i}", "product": "Bayan Obo concentrate", "form": "concentrate",
                         "mass_kg": 1000 + i, "reo_pct": 50}],
        }))  # fmt: skip
    return b"\n".join(lines) + b"\n"


def verify_db(db: str) -> int:
    """``reetrace.verify`` of the store at ``db``; the number of records."""
    store = reetrace.open_store(db)
    try:
        return reetrace.verify(store).records
    finally:
        store.dispose()
