"""Ingest benchmark: `reetrace submit` of a large JSON Lines file into PostgreSQL (or SQLite), next to a
bare psycopg binary COPY of the very rows the store wrote, measured in the same run.

    .venv/bin/python scripts/bench_ingest.py --events 200000            # PostgreSQL, ~1M lot lines
    .venv/bin/python scripts/bench_ingest.py --mb 2048 --no-reference    # peak memory on a 2 GB file
    .venv/bin/python scripts/bench_ingest.py --backend sqlite --events 50000
    .venv/bin/python scripts/bench_ingest.py --dataset data/s10 --backend sqlite   # a `reetrace generate` dataset

The file is one separation enterprise's month: extract-like intake lots and separation events drawing
from them, so every cross-record rule (own lots exist, outputs are new, cycles) has real work to do.
Each measurement runs in a fresh child process on a fresh database, so peak RSS (ru_maxrss, the larger
of that process and its parser process) is the submission's own. Reported: lot lines per second, the ratio to the bare COPY, how long the submission held the
store's write lock (phase 2: positions, chain, rows, cross-record checks, commit), CPU seconds of the
submission's processes, peak RSS, file size.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import psycopg

ADMIN = os.environ.get("REETRACE_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
#: Every table a submission writes: the log and what is derived from it in the same transaction.
TABLES = (
    "log",
    "submissions",
    "events",
    "lots",
    "inputs",
    "edges",
    "documents",
    "retractions",
    "merkle_nodes",
)
#: The reference of the first runs of this script, before the store wrote documents (migration 0008)
#: and Merkle nodes: still reported, so that figures compare across versions.
FIRST_TABLES = ("log", "submissions", "events", "lots", "inputs", "edges")
COLUMNS = """
SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
"""
PROFILE = {"La": 23.0, "Ce": 50.0, "Pr": 6.2, "Nd": 18.5, "Sm": 0.8, "Eu": 0.2, "Gd": 0.7, "Tb": 0.1,
           "Dy": 0.1, "Y": 0.4}  # fmt: skip
REGISTRY = {
    "groups": [{"code": "CNRE", "name": "China Northern Rare Earth Group"}],
    "enterprises": [{"code": "BENCH", "name": "Bench Separation", "group": "CNRE",
                     "roles": ["separation", "import"], "approved": True}],
    "sites": [{"code": "BENCH-P", "enterprise": "BENCH", "kind": "plant", "capacity_t": 20000}],
}  # fmt: skip


def write_file(path: Path, *, events: int | None, mb: int | None, seed: int = 1) -> tuple[int, int]:
    """A month of one enterprise: imports (1 output) and separations (2 inputs -> 4 oxides)."""
    rng = random.Random(seed)
    limit = (mb or 0) * 1024 * 1024
    n = lines = 0
    stock: list[tuple[str, float]] = []
    with path.open("wb") as fh:
        while (events is not None and n < events) or (mb is not None and fh.tell() < limit):
            day = 1 + (n * 28) // max(events or (limit // 450), 1) % 28
            at = f"2025-03-{min(day, 28):02d}T{(n // 3600) % 24:02d}:{(n // 60) % 60:02d}:{n % 60:02d}+08:00"
            if len(stock) < 2 or rng.random() < 0.34:
                lot = f"F{n}"
                mass = round(rng.uniform(5_000, 40_000), 1)
                ev: dict[str, Any] = {
                    "event_id": f"e{n}", "type": "import", "enterprise": "BENCH", "site": "BENCH-P",
                    "occurred_at": at, "origin": {"customs_entry": f"CE{n}", "country": "US", "hs_code": "2530.90.20"},
                    "outputs": [{"lot": lot, "product": "bastnaesite concentrate", "form": "concentrate",
                                 "mass_kg": mass, "reo_pct": 60.0, "elements": PROFILE}],
                }  # fmt: skip
                stock.append((lot, mass))
                lines += 1
            else:
                (a, ma), (b, mb_) = stock.pop(rng.randrange(len(stock))), stock.pop(rng.randrange(len(stock)))
                feed = (ma + mb_) * 0.6 * 0.94
                outs = [
                    {"lot": f"S{n}-{k}", "product": p, "form": "oxide", "mass_kg": round(feed * f / 0.99, 1),
                     "reo_pct": 99.0, "elements": els}
                    for k, (p, f, els) in enumerate([
                        ("La oxide", 0.23, {"La": 100.0}), ("Ce oxide", 0.50, {"Ce": 100.0}),
                        ("PrNd oxide", 0.247, {"Pr": 25.1, "Nd": 74.9}), ("SEG oxide", 0.023, {"Sm": 35.0, "Eu": 9.0, "Gd": 30.0, "Tb": 4.0, "Dy": 4.0, "Y": 18.0}),
                    ])
                ]  # fmt: skip
                ev = {
                    "event_id": f"e{n}", "type": "process", "process": "separation", "enterprise": "BENCH",
                    "site": "BENCH-P", "occurred_at": at,
                    "inputs": [{"lot": a, "mass_kg": ma}, {"lot": b, "mass_kg": mb_}], "outputs": outs,
                }  # fmt: skip
                lines += 6
            fh.write(orjson.dumps(ev) + b"\n")
            n += 1
    return n, lines


def fresh_pg() -> str:
    name = f"reetrace_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return ADMIN.rsplit("/", 1)[0] + "/" + name


def drop_pg(url: str) -> None:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def child_submit(url: str, path: str, registry: str) -> dict[str, Any]:
    """Runs in a child process: load the registry, submit the file, report time and peak RSS."""
    from datetime import datetime

    from reetrace import Registry, load_registry, open_store, submit

    store = open_store(url)
    load_registry(store, Registry.model_validate_json(Path(registry).read_bytes()))
    # Phase 2 of a submission is the one ``appending`` block: from taking the write lock to the commit
    # that releases it, the time every other writer of the store waits.
    held: list[float] = []
    appending = store.appending

    @contextmanager
    def timed_appending(**kw: Any) -> Iterator[Any]:
        t = time.perf_counter()
        try:
            with appending(**kw) as app:
                yield app
        finally:
            held.append(time.perf_counter() - t)

    store.appending = timed_appending  # type: ignore[method-assign]
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    r = submit(store, path, enterprise="BENCH", period="2025-03",
               received_at=datetime.fromisoformat("2025-04-02T10:00:00+08:00"))  # fmt: skip
    dt = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    store.dispose()
    return {"seconds": dt, "lock_seconds": sum(held), "cpu_seconds": cpu, "events": r.new_events,
            "lot_lines": r.lot_lines, "peak_rss_mb": _peak_rss_mb()}  # fmt: skip


def _cpu_seconds() -> float:
    """CPU time of this process and of the children it waited for (the parser processes): steadier
    than wall time on a shared machine, and what the second core can take off the first."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _peak_rss_mb() -> float:
    """Peak RSS of this process and of the largest child it waited for (the parser process)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, child) / 1024


def child_load(url: str, directory: str) -> dict[str, Any]:
    """Runs in a child process: load a generated dataset submission by submission."""
    from reetrace import load_dataset, open_store

    store = open_store(url)
    t0 = time.perf_counter()
    s = load_dataset(store, Path(directory))
    dt = time.perf_counter() - t0
    store.dispose()
    return {"seconds": dt, "events": s.events, "lot_lines": s.lot_lines, "peak_rss_mb": _peak_rss_mb()}


def child_copy_sqlite(source_url: str, target_url: str) -> dict[str, Any]:
    """Runs in a child process: bare sqlite3 executemany of the rows the store wrote, one transaction."""
    import sqlite3

    from reetrace import open_store

    open_store(target_url).dispose()  # same schema, indexes and triggers as the store's
    src = sqlite3.connect(source_url.removeprefix("sqlite:///"))
    start = src.execute("SELECT min(position) - 1 FROM submissions").fetchone()[0]
    rows = {}
    for t in TABLES:  # the submission's rows, as in child_copy
        if t == "merkle_nodes":
            q = "SELECT * FROM merkle_nodes WHERE (idx + 1) * (1 << level) > ? ORDER BY level, idx"
        else:
            q = f'SELECT * FROM "{t}" WHERE position > ? ORDER BY 1'
        rows[t] = src.execute(q, (start,)).fetchall()
    src.close()
    dst = sqlite3.connect(target_url.removeprefix("sqlite:///"), isolation_level=None)
    t0 = time.perf_counter()
    dst.execute("BEGIN IMMEDIATE")
    for t, rs in rows.items():
        if rs:
            dst.executemany(f'INSERT INTO "{t}" VALUES ({", ".join("?" * len(rs[0]))})', rs)
    dst.execute("COMMIT")
    dt = time.perf_counter() - t0
    dst.close()
    return {"seconds": dt, "rows": {t: len(r) for t, r in rows.items()}}


def child_copy(source_url: str, target_url: str) -> dict[str, Any]:
    """Runs in a child process: bare binary COPY of the rows the submission wrote (every table, in
    one transaction) into an identical schema. Reports the time of all of them, and of the first
    reference's six tables alone."""
    from reetrace import open_store

    open_store(target_url).dispose()  # same schema, indexes and triggers as the store's
    rows: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(source_url) as src:
        # What the registry load wrote before the submission is not the submission's: its log records
        # and the Merkle nodes over them alone (a node is written with its last leaf).
        start = src.execute("SELECT min(position) - 1 FROM submissions").fetchone()[0]  # type: ignore[index]
        for t in TABLES:
            if t == "merkle_nodes":
                q = "SELECT * FROM merkle_nodes WHERE (idx + 1) * (1::int8 << level) > %s ORDER BY level, idx"
            else:
                q = f'SELECT * FROM "{t}" WHERE position > %s ORDER BY 1'
            rows[t] = src.execute(q, (start,)).fetchall()
    seconds: dict[str, float] = {}
    with psycopg.connect(target_url) as dst:
        with dst.transaction():
            for t in TABLES:
                # The columns and their types as the migrations created them, from the catalog.
                cols = dst.execute(COLUMNS, (f'"{t}"',)).fetchall()
                names = ", ".join(f'"{name}"' for name, _ in cols)
                t0 = time.perf_counter()
                with dst.cursor() as cur, cur.copy(f'COPY "{t}" ({names}) FROM STDIN (FORMAT BINARY)') as cp:
                    cp.set_types([typ for _, typ in cols])
                    for row in rows[t]:
                        cp.write_row(row)
                seconds[t] = time.perf_counter() - t0
            t0 = time.perf_counter()
        commit = time.perf_counter() - t0  # the transaction's commit (WAL flush), as the store's
    dt = sum(seconds.values()) + commit
    first = sum(seconds[t] for t in FIRST_TABLES) + commit
    return {"seconds": dt, "first_seconds": first, "rows": {t: len(r) for t, r in rows.items()}}


def in_child(fn: str, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", fn, *args], check=True, capture_output=True, text=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=None, help="events in the file (default 200000)")
    ap.add_argument("--mb", type=int, default=None, help="instead of --events: file size in MB")
    ap.add_argument("--dataset", help="instead of one file: a directory written by `reetrace generate`")
    ap.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each measurement (median reported)")
    ap.add_argument("--no-reference", action="store_true", help="skip the bare COPY (memory runs)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        fn, *args = a.child
        fns = {
            "submit": child_submit,
            "load": child_load,
            "copy": child_copy,
            "copy_sqlite": child_copy_sqlite,
        }
        print(json.dumps(fns[fn](*args)))  # type: ignore[operator]
        return
    if a.events is None and a.mb is None:
        a.events = 200_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "flows.jsonl"
        reg = Path(tmp) / "registry.json"
        reg.write_bytes(orjson.dumps(REGISTRY))
        if a.dataset:
            files = list(Path(a.dataset).rglob("*.jsonl")) + list(Path(a.dataset).rglob("*.csv"))
            size_mb = sum(f.stat().st_size for f in files) / 1e6
            n = lines = 0  # filled in from the load
        else:
            n, lines = write_file(path, events=a.events, mb=a.mb)
            size_mb = path.stat().st_size / 1e6
            print(f"file: {n:,} events, {lines:,} lot lines, {size_mb:,.0f} MB", file=sys.stderr)
        runs: list[dict[str, Any]] = []
        refs: list[dict[str, Any]] = []
        for i in range(a.repeat):
            url = fresh_pg() if a.backend == "postgres" else f"sqlite:///{tmp}/bench{i}.db"
            try:
                if a.dataset:
                    runs.append(in_child("load", url, a.dataset))
                    n, lines = runs[-1]["events"], runs[-1]["lot_lines"]
                else:
                    runs.append(in_child("submit", url, str(path), str(reg)))
                held = (
                    f" (write lock held {runs[-1]['lock_seconds']:.1f} s)"
                    if "lock_seconds" in runs[-1]
                    else ""
                )
                print(f"  store run {i + 1}: {runs[-1]['seconds']:.1f} s{held}", file=sys.stderr)
                if a.no_reference:
                    pass
                elif a.backend == "postgres":
                    target = fresh_pg()
                    try:
                        refs.append(in_child("copy", url, target))
                        print(
                            f"  bare COPY run {i + 1}: {refs[-1]['seconds']:.1f} s "
                            f"(six tables {refs[-1]['first_seconds']:.1f} s)",
                            file=sys.stderr,
                        )
                    finally:
                        drop_pg(target)
                else:
                    refs.append(in_child("copy_sqlite", url, f"sqlite:///{tmp}/ref{i}.db"))
                    print(f"  bare executemany run {i + 1}: {refs[-1]['seconds']:.1f} s", file=sys.stderr)
            finally:
                if a.backend == "postgres":
                    drop_pg(url)
    med = sorted(r["seconds"] for r in runs)[len(runs) // 2]
    result: dict[str, Any] = {
        "backend": a.backend, "events": n, "lot_lines": lines, "file_mb": round(size_mb, 1),
        "store_seconds": round(med, 2), "store_lot_lines_per_s": round(lines / med),
        "store_cpu_seconds": round(sorted(r.get("cpu_seconds", 0.0) for r in runs)[len(runs) // 2], 2),
        "lock_seconds": round(sorted(r.get("lock_seconds", 0.0) for r in runs)[len(runs) // 2], 2),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
    }  # fmt: skip
    if refs:
        ref = sorted(r["seconds"] for r in refs)[len(refs) // 2]
        result |= {"copy_seconds": round(ref, 2), "copy_lot_lines_per_s": round(lines / ref),
                   "ratio_store_to_copy": round(ref / med, 2), "copied_rows": refs[0]["rows"]}  # fmt: skip
        if "first_seconds" in refs[0]:
            first = sorted(r["first_seconds"] for r in refs)[len(refs) // 2]
            result |= {"copy_first_tables_seconds": round(first, 2),
                       "ratio_store_to_copy_first_tables": round(first / med, 2)}  # fmt: skip
    if a.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{'backend':<22}{a.backend}")
    what = f"dataset {a.dataset}" if a.dataset else "file"
    print(f"{'input':<22}{what}: {n:,} events, {lines:,} lot lines, {size_mb:,.0f} MB")
    print(
        f"{'reetrace submit':<22}{result['store_lot_lines_per_s']:>10,} lot lines/s  ({med:.1f} s, median of {len(runs)})"
    )
    if refs:
        print(
            f"{'bare binary COPY' if a.backend == 'postgres' else 'bare executemany':<22}"
            f"{result['copy_lot_lines_per_s']:>10,} lot lines/s  ({result['copy_seconds']:.1f} s)"
        )
        print(f"{'ratio':<22}{result['ratio_store_to_copy']:>10.2f}x of the bare write")
        if "ratio_store_to_copy_first_tables" in result:
            print(
                f"{'  six tables only':<22}{result['ratio_store_to_copy_first_tables']:>10.2f}x "
                f"(bare COPY of log .. edges alone, {result['copy_first_tables_seconds']:.1f} s: the "
                "reference before documents and Merkle nodes were counted)"
            )
    if not a.dataset:
        print(f"{'write lock held':<22}{result['lock_seconds']:>10,.1f} s  (phase 2 of the submit, median)")
    print(f"{'CPU (submit)':<22}{result['store_cpu_seconds']:>10,.1f} s  (its processes, median)")
    print(f"{'peak RSS (submit)':<22}{result['peak_rss_mb']:>10,.0f} MB")


if __name__ == "__main__":
    main()
