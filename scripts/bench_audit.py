"""Audit benchmark: a full audit of a generated national year, with the time of every rule, next to
a reference query measured in the same run.

    .venv/bin/python scripts/bench_audit.py --scale 160             # ≥1M edges: generate, load, audit
    .venv/bin/python scripts/bench_audit.py --db postgresql://postgres@127.0.0.1/bench --dir /tmp/b
    .venv/bin/python scripts/bench_audit.py --backend sqlite --scale 10

Without ``--db`` a fresh PostgreSQL database (or SQLite file) is created, loaded from ``--dir`` (the
dataset is generated there first when the directory has no manifest) and dropped at the end unless
``--keep``. With ``--db`` naming a loaded store, loading is skipped. Statistics are refreshed
(``ANALYZE``) after loading, as autovacuum would on a live server.

The reference is one hash join over every edge and its source lot (``SELECT sum(edge REO)``): the
least work any set-based rule over the edges must do. Reported: store size, the reference, each
rule's best time over ``--repeat`` runs, the total and its ratio to the reference, and the median time
of ``findings_for`` for one lot (what a trace pays).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import psycopg
import sqlalchemy as sa

from reetrace import RULES, Store, findings_for, load_dataset, open_store, run_audit
from reetrace import generate_dataset as generate

ADMIN = os.environ.get("REETRACE_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
AS_OF = datetime.fromisoformat("2026-02-01T00:00:00+08:00")
REFERENCE = "SELECT count(*), sum(d.mass_kg * l.reo_kg / l.mass_kg) FROM edges d JOIN lots l ON l.lot = d.src"


def timed(label: str, fn):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn()
    secs = time.perf_counter() - t
    print(f"{label}: {secs:.1f} s", flush=True)
    return out, secs


def counts(store: Store) -> dict[str, int]:
    with store.reading() as conn:
        return {
            t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())
            for t in ("events", "lots", "inputs", "edges", "submissions")
        }


def analyze(store: Store) -> None:
    with store.engine.connect() as conn:
        if store.dialect == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", help="a store URL; default: a fresh database, dropped afterwards")
    ap.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    ap.add_argument("--dir", type=Path, help="dataset directory (generated there if it has no manifest)")
    ap.add_argument("--scale", type=float, default=160.0, help="generator scale (160: ~1.07M edges)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2, help="audit runs; the best time per rule counts")
    ap.add_argument("--keep", action="store_true", help="keep the database created for the run")
    args = ap.parse_args()

    created: str | None = None
    url = args.db
    if url is None:
        if args.backend == "postgresql":
            created = f"reetrace_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{created}"')
            url = f"{ADMIN.rsplit('/', 1)[0]}/{created}"
        else:
            url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    store = open_store(url)
    try:
        if counts(store)["events"] == 0:
            data = args.dir or Path(tempfile.mkdtemp()) / "data"
            if not (data / "manifest.json").exists():
                summary, _ = timed(
                    f"generate scale {args.scale:g}",
                    lambda: generate(data, year=2025, months=12, scale=args.scale, seed=args.seed),
                )
                print(f"  {summary.events:,} events, {summary.edges:,} edges", flush=True)
            timed(f"load {data}", lambda: load_dataset(store, data))
            timed("analyze", lambda: analyze(store))
        size = counts(store)
        print("store: " + ", ".join(f"{k} {v:,}" for k, v in size.items()))

        with store.reading() as conn:
            ref_times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                conn.execute(sa.text(REFERENCE)).one()
                ref_times.append(time.perf_counter() - t)
        reference = min(ref_times)
        print(f"reference (edges ⋈ lots, one hash join): {reference:.2f} s")

        best: dict[str, float] = {}
        totals = []
        findings = 0
        for i in range(args.repeat):
            result = run_audit(store, as_of=AS_OF)
            totals.append(sum(result.timings.values()))
            findings = len(result.findings)
            for rule, secs in result.timings.items():
                best[rule] = min(secs, best.get(rule, secs))
            print(f"audit run {i + 1}: {totals[-1]:.1f} s, {findings} findings", flush=True)
        print(f"\n{'rule':<24}{'best s':>9}{'× ref':>8}")
        for rule in RULES:
            print(f"{rule:<24}{best[rule]:>9.2f}{best[rule] / reference:>8.1f}")
        total = min(totals)
        print(f"{'total (best run)':<24}{total:>9.2f}{total / reference:>8.1f}")

        with store.reading() as conn:
            lots = list(conn.execute(sa.text("SELECT lot FROM lots ORDER BY position")).scalars())
            sample = random.Random(1).sample(lots, min(30, len(lots)))
            per_lot = []
            for lot in sample:
                t = time.perf_counter()
                findings_for(conn, {lot}, set(), as_of=AS_OF)
                per_lot.append(time.perf_counter() - t)
        print(f"findings_for one lot: median {statistics.median(per_lot) * 1000:.1f} ms, "
              f"max {max(per_lot) * 1000:.1f} ms over {len(sample)} lots")  # fmt: skip
        print(f"\nresult: {size['edges']:,} edges, full audit {total:.1f} s "
              f"({'under' if total < 60 else 'OVER'} 60 s)")  # fmt: skip
    finally:
        store.dispose()
        if created and not args.keep:
            with psycopg.connect(ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)')
        elif created:
            print(f"kept database {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
