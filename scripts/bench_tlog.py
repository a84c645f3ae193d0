"""Transparency-log benchmark: what the Merkle tree costs at ingest, and how fast proofs and checkpoint
signatures are on a big tree. Every ratio compares two measurements of the same run.

    .venv/bin/python scripts/bench_tlog.py                       # all parts, 10M-leaf node table
    .venv/bin/python scripts/bench_tlog.py --parts ingest --events 100000
    .venv/bin/python scripts/bench_tlog.py --parts proofs --leaves 1000000

Parts:
* ``ingest`` — `submit` of one enterprise's month (scripts/bench_ingest.py's file) on PostgreSQL with
  the tree maintained, next to the same submission with ``Store.maintain_tree = False`` (benchmark-only:
  the reference writes no ``merkle_nodes`` rows), fresh database each run, runs interleaved, median
  of ``--repeat``. Aim: ratio >= 0.9.
* ``proofs`` — a ``merkle_nodes`` table of ``--leaves`` synthetic leaves built directly through
  ``append_leaves`` in batches (binary COPY, primary key built afterwards) in a throwaway PostgreSQL
  database; then inclusion proofs of random leaves and consistency proofs between random sizes, each one
  batched SELECT through :class:`reetrace.store.tree.TableNodes`. Aims: p50 <= 2 ms and <= 5 ms.
* ``sign`` — signing a checkpoint (C2SP note, Ed25519). Aim: p50 <= 5 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from bench_ingest import REGISTRY, write_file
from reetrace.intake.registry import load
from reetrace.intake.submit import submit
from reetrace.models import Registry
from reetrace.store import open_store
from reetrace.store.tree import Frontier, TableNodes
from reetrace.tlog import merkle
from reetrace.tlog.checkpoint import Checkpoint, sign_checkpoint
from reetrace.tlog.keys import Signer

ADMIN = os.environ.get("REETRACE_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


def fresh_pg() -> str:
    name = f"reetrace_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return ADMIN.rsplit("/", 1)[0] + "/" + name


def drop_pg(url: str) -> None:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))]


# -- ingest -------------------------------------------------------------------------------------------


def one_ingest(path: Path, tree: bool) -> float:
    url = fresh_pg()
    try:
        store = open_store(url)
        store.maintain_tree = tree
        load(store, Registry.model_validate(REGISTRY))
        t0 = time.perf_counter()
        r = submit(store, str(path), enterprise="BENCH", period="2025-03",
                   received_at=datetime.fromisoformat("2025-04-02T10:00:00+08:00"))  # fmt: skip
        dt = time.perf_counter() - t0
        store.dispose()
        return r.lot_lines / dt
    finally:
        drop_pg(url)


def bench_ingest(events: int, repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "month.jsonl"
        n, lines = write_file(path, events=events, mb=None)
        with_tree: list[float] = []
        without: list[float] = []
        for i in range(repeat):  # interleaved, alternating which goes first
            order = (True, False) if i % 2 == 0 else (False, True)
            for tree in order:
                (with_tree if tree else without).append(one_ingest(path, tree))
    a, b = statistics.median(with_tree), statistics.median(without)
    return {"events": n, "lot_lines": lines, "with_tree_lines_per_s": round(a),
            "without_tree_lines_per_s": round(b), "ratio": round(a / b, 3),
            "runs_with": [round(x) for x in with_tree], "runs_without": [round(x) for x in without]}  # fmt: skip


# -- proofs on a big tree -----------------------------------------------------------------------------


def build_nodes(url: str, leaves: int, batch: int = 200_000) -> float:
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE merkle_nodes (level int4 NOT NULL, idx int8 NOT NULL, hash bytea NOT NULL)"
        )
        frontier = Frontier()
        done = 0
        while done < leaves:
            n = min(batch, leaves - done)
            hashes = [hashlib.sha256(b"\x00" + (done + i).to_bytes(8, "big")).digest() for i in range(n)]
            rows = frontier.append(hashes)
            with (
                conn.cursor() as cur,
                cur.copy("COPY merkle_nodes (level, idx, hash) FROM STDIN (FORMAT BINARY)") as cp,
            ):
                cp.set_types(["int4", "int8", "bytea"])
                for row in rows:
                    cp.write_row(row)
            done += n
        conn.execute("ALTER TABLE merkle_nodes ADD PRIMARY KEY (level, idx)")
        conn.execute("VACUUM ANALYZE merkle_nodes")
    return time.perf_counter() - t0


def bench_proofs(leaves: int, samples: int) -> dict[str, Any]:
    import random

    url = fresh_pg()
    try:
        build_s = build_nodes(url, leaves)
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        rng = random.Random(7)
        inc: list[float] = []
        con: list[float] = []
        with engine.connect() as conn:
            reader = TableNodes(conn)
            root = merkle.root(leaves, reader)
            for _ in range(20):  # warm the plan cache and the connection
                merkle.inclusion_proof(rng.randrange(leaves), leaves, reader)
            for _ in range(samples):
                i = rng.randrange(leaves)
                t0 = time.perf_counter()
                proof = merkle.inclusion_proof(i, leaves, reader)
                inc.append((time.perf_counter() - t0) * 1000)
                assert len(proof) >= 1
            for _ in range(samples):
                m = rng.randrange(1, leaves)
                t0 = time.perf_counter()
                merkle.consistency_proof(m, leaves, reader)
                con.append((time.perf_counter() - t0) * 1000)
        engine.dispose()
        return {"leaves": leaves, "build_s": round(build_s, 1), "root": root.hex()[:16],
                "inclusion_ms_p50": round(pct(inc, 0.5), 3), "inclusion_ms_p95": round(pct(inc, 0.95), 3),
                "consistency_ms_p50": round(pct(con, 0.5), 3), "consistency_ms_p95": round(pct(con, 0.95), 3)}  # fmt: skip
    finally:
        drop_pg(url)


def bench_sign(samples: int) -> dict[str, Any]:
    signer = Signer.from_seed("bench.example/log", os.urandom(32))
    times = []
    for i in range(samples):
        cp = Checkpoint("bench.example/log", 10_000_000 + i, hashlib.sha256(i.to_bytes(8, "big")).digest())
        t0 = time.perf_counter()
        sign_checkpoint(cp, signer)
        times.append((time.perf_counter() - t0) * 1000)
    return {"sign_ms_p50": round(pct(times, 0.5), 4), "sign_ms_p95": round(pct(times, 0.95), 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="sign,ingest,proofs")
    ap.add_argument("--events", type=int, default=50_000, help="events in the ingest file")
    ap.add_argument("--repeat", type=int, default=3, help="ingest runs of each kind (median)")
    ap.add_argument("--leaves", type=int, default=10_000_000, help="leaves of the proof benchmark's tree")
    ap.add_argument("--samples", type=int, default=1000, help="proofs / signatures timed")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    if "sign" in parts:
        print("sign", bench_sign(args.samples), flush=True)
    if "ingest" in parts:
        print("ingest", bench_ingest(args.events, args.repeat), flush=True)
    if "proofs" in parts:
        print("proofs", bench_proofs(args.leaves, args.samples), flush=True)


if __name__ == "__main__":
    main()
