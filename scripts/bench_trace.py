"""Trace benchmark: trace random magnet lots of a generated national dataset back to their origins,
next to the bare recursive ancestor query on the same lots in the same run, at two store sizes.

    .venv/bin/python scripts/bench_trace.py                       # scales 270 and 1080 (~1M, ~4M edges)
    .venv/bin/python scripts/bench_trace.py --scales 20 --lots 50 # a quick look
    .venv/bin/python scripts/bench_trace.py --json

For each scale: the dataset is generated into ``--dir``/s<scale> (kept and reused: the generator gives
the same bytes for the same arguments), loaded into a fresh PostgreSQL database (reused if it is
already loaded, dropped with ``--drop``), statistics refreshed with ``ANALYZE``, and ``--lots`` magnet
lots picked at random (fixed seed). Each lot is timed with the queries below and with ``trace_back``
(no audit findings: those are the audit's cost, benchmarked by ``bench_audit.py``) on one warm
connection, after one warm-up pass over the lots; before each lot's timings its trace runs once
untimed, so that the trace and the stopped walk meet the same (warm) cache, and they are timed in
alternating order.

* **bare** — ``WITH RECURSIVE`` over ``effective_edges`` returning every ancestor lot
  (:data:`BARE_ANCESTORS_SQL` below). In generated data a magnet's full ancestry runs
  through recycled scrap into the ancestries of the magnets that scrap came from, and is far larger
  than its trace, which stops at scrap intakes; so also:
* **bare stopped** — the same walk with the trace's stop at scrap intakes, returning only the lots
  (:data:`STOPPED_ANCESTORS_SQL` below): the least *this* trace must do. The ratio is
  taken against it.
* **trace** — ``trace_back``: the subgraph query (lots, creating events, edges, scrap stops), origins,
  REO and element shares, plants, and the result objects.

``--shapes`` instead times two synthetic extremes on a fresh store (``--db``, default a temporary
SQLite file): a lot with ``--wide`` ancestors (mines blended in batches of 10,000, the most one event
may draw, then the batches blended) and a chain ``--deep`` hops long.

Loading: through the public API only (:func:`reetrace.load_dataset`, submission by submission, as
enterprises report), so the store under test is one that ``submit`` wrote, with every check it makes.
A loaded database is kept and reused (``--drop`` reloads), so the load is paid once per scale; what is
measured is the trace, not the load (``bench_ingest.py --dataset`` measures loading).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
import sqlalchemy as sa

import reetrace
from reetrace import Store, open_store, trace_back

ADMIN = os.environ.get("REETRACE_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")

#: The bare ancestor walk, without stops or joins: the reference of the full ancestry.
BARE_ANCESTORS_SQL = """
WITH RECURSIVE anc(lot) AS (
    SELECT CAST(:lot AS VARCHAR(130))
    UNION
    SELECT d.src FROM anc a JOIN effective_edges d ON d.dst = a.lot
)
SELECT lot FROM anc
"""

#: The trace's own walk (stopping above scrap intakes, as ``reetrace.trace`` does) returning only the
#: lots: the least the trace must do, and the reference its ratio is taken against.
STOPPED_ANCESTORS_SQL = """
WITH RECURSIVE anc(lot, stop) AS (
    SELECT CAST(:lot AS VARCHAR(130)), 0
    UNION
    SELECT d.src,
           CASE WHEN e.process = 'recycling' AND EXISTS (
                    SELECT 1 FROM effective_lots s WHERE s.lot = d.src AND s.form = 'scrap')
                THEN 1 ELSE 0 END
    FROM anc a
    JOIN effective_edges d ON d.dst = a.lot
    JOIN events e ON e.position = d.position
    WHERE a.stop = 0
)
SELECT DISTINCT lot FROM anc
"""


def database(scale: float, drop: bool) -> str:
    name = f"reetrace_bench_trace_s{scale:g}".replace(".", "_")
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and drop:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return ADMIN.rsplit("/", 1)[0] + "/" + name


def prepare(scale: float, root: Path, drop: bool) -> Store:
    directory = root / f"s{scale:g}"
    if not (directory / "manifest.json").exists():
        t = time.perf_counter()
        s = reetrace.generate_dataset(directory, scale=scale, seed=1)
        print(f"  generated {s.events:,} events, {s.edges:,} edges in {time.perf_counter() - t:.0f} s",
              file=sys.stderr)  # fmt: skip
    store = open_store(database(scale, drop))
    with store.reading() as conn:
        loaded = conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one()
    if not loaded:
        t = time.perf_counter()
        n = reetrace.load_dataset(store, directory).events
        print(f"  loaded {n:,} events in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    analyze(store)
    return store


def analyze(store: Store) -> None:
    """Fresh planner statistics after a bulk load, as autovacuum would gather on a live server."""
    with store.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def measure(store: Store, n_lots: int, seed: int) -> dict[str, Any]:
    queries = {"bare": sa.text(BARE_ANCESTORS_SQL), "stopped": sa.text(STOPPED_ANCESTORS_SQL)}
    with store.reading() as conn:
        n_edges = conn.execute(sa.text("SELECT count(*) FROM edges")).scalar_one()
        magnets = list(conn.execute(
            sa.text("SELECT lot FROM effective_lots WHERE form = 'magnet' ORDER BY lot")).scalars())  # fmt: skip
        picked = random.Random(seed).sample(magnets, min(n_lots, len(magnets)))
        for lot in picked:  # warm-up: plans, imports, caches
            conn.execute(queries["stopped"], {"lot": lot}).fetchall()
            trace_back(conn, lot)
        times: dict[str, list[float]] = {"bare": [], "stopped": [], "trace": []}
        sizes: dict[str, list[int]] = {"bare": [], "stopped": [], "trace": []}
        for i, lot in enumerate(picked):
            # Same cache state for both: the lot's pages are read once untimed, then the stopped walk
            # and the trace are timed in alternating order (whichever runs second must not gain).
            trace_back(conn, lot)
            pair = ("stopped", "trace") if i % 2 == 0 else ("trace", "stopped")
            for name in (*pair, "bare"):
                t0 = time.perf_counter()
                if name == "trace":
                    n = len(trace_back(conn, lot).nodes)
                else:
                    n = len(conn.execute(queries[name], {"lot": lot}).fetchall())
                times[name].append((time.perf_counter() - t0) * 1000)
                sizes[name].append(n)
    out: dict[str, Any] = {"edges": n_edges, "magnet_lots": len(magnets), "lots_traced": len(picked)}
    for name in times:
        out[f"{name}_lots_p50"] = statistics.median(sizes[name])
        out[f"{name}_lots_max"] = max(sizes[name])
        out[f"{name}_p50_ms"] = round(pct(times[name], 50), 3)
        out[f"{name}_p95_ms"] = round(pct(times[name], 95), 3)
    for p in ("p50", "p95"):
        out[f"ratio_{p}"] = round(out[f"trace_{p}_ms"] / out[f"stopped_{p}_ms"], 2)
        out[f"ratio_full_{p}"] = round(out[f"trace_{p}_ms"] / out[f"bare_{p}_ms"], 2)
    return out


SHAPES_REGISTRY = {
    "enterprises": [{"code": "M", "name": "Mine", "roles": ["mining"], "approved": True}],
    "sites": [{"code": "M-S", "enterprise": "M", "kind": "mine", "licence": "L1"}],
}


def _events_file(path: Path, events: list[dict[str, Any]]) -> str:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return str(path)


def shapes(url: str, wide: int, deep: int) -> dict[str, Any]:
    """Build a ``wide``-ancestor lot and a ``deep``-hop chain, and time their traces."""
    import tempfile

    store = open_store(url)
    reetrace.load_registry(store, reetrace.Registry.model_validate(SHAPES_REGISTRY))
    tmp = Path(tempfile.mkdtemp())
    at = "2025-03-02T10:00:00+08:00"

    def ev(i: str, type_: str, **kw: Any) -> dict[str, Any]:
        return {"event_id": i, "type": type_, "enterprise": "M", "site": "M-S", "occurred_at": at, **kw}

    def line(lot: str, kg: float) -> dict[str, Any]:
        return {"lot": lot, "product": "ore", "form": "ore", "mass_kg": kg, "reo_pct": 5}

    evs = [ev(f"x{i}", "extract", outputs=[line(f"O{i}", 1000)]) for i in range(wide)]
    batches = [list(range(b, min(b + 10_000, wide))) for b in range(0, wide, 10_000)]
    for b, ids in enumerate(batches):
        evs.append(ev(f"b{b}", "process", process="beneficiation",
                      inputs=[{"lot": f"O{i}", "mass_kg": 1000} for i in ids],
                      outputs=[line(f"B{b}", 1000.0 * len(ids))]))  # fmt: skip
    evs.append(ev("wide", "process", process="beneficiation",
                  inputs=[{"lot": f"B{b}", "mass_kg": 1000.0 * len(ids)} for b, ids in enumerate(batches)],
                  outputs=[line("WIDE", 1000.0 * wide)]))  # fmt: skip
    evs.append(ev("d0", "extract", outputs=[line("D0", 1000)]))
    for i in range(1, deep + 1):
        evs.append(ev(f"d{i}", "process", process="beneficiation",
                      inputs=[{"lot": f"D{i - 1}", "mass_kg": 1000}], outputs=[line(f"D{i}", 1000)]))  # fmt: skip
    t = time.perf_counter()
    reetrace.submit(store, _events_file(tmp / "m.jsonl", evs), enterprise="M", period="2025-03",
           received_at=datetime.fromisoformat("2025-04-01T10:00:00+08:00"))  # fmt: skip
    print(f"  loaded {len(evs):,} events in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    analyze(store)
    out: dict[str, Any] = {"backend": store.dialect}
    with store.reading() as conn:
        for name, lot in (("wide", "M:WIDE"), ("deep", f"M:D{deep}")):
            trace_back(conn, lot)
            t0 = time.perf_counter()
            rows = conn.execute(sa.text(BARE_ANCESTORS_SQL), {"lot": lot}).fetchall()
            t1 = time.perf_counter()
            result = trace_back(conn, lot)
            t2 = time.perf_counter()
            out[name] = {"lots": len(rows), "origins": len(result.origins[0].lots),
                         "bare_ms": round((t1 - t0) * 1000, 1), "trace_ms": round((t2 - t1) * 1000, 1),
                         "share": result.origins[0].share}  # fmt: skip
    store.dispose()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", default="270,1080", help="generator scales (default: ~1M and ~4M edges)")
    ap.add_argument("--lots", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dir", type=Path, default=Path("bench-data/trace"))
    ap.add_argument("--drop", action="store_true", help="reload even when the database is loaded")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--shapes", action="store_true", help="time a wide and a deep synthetic trace")
    ap.add_argument("--wide", type=int, default=100_000)
    ap.add_argument("--deep", type=int, default=1000)
    ap.add_argument("--db", help="store for --shapes (default: a temporary SQLite file)")
    args = ap.parse_args()
    if args.shapes:
        import tempfile

        url = args.db or f"sqlite:///{tempfile.mkdtemp()}/shapes.db"
        print(orjson.dumps(shapes(url, args.wide, args.deep), option=orjson.OPT_INDENT_2).decode())
        return 0
    rows = []
    for scale in (float(s) for s in args.scales.split(",")):
        print(f"scale {scale:g}", file=sys.stderr)
        store = prepare(scale, args.dir, args.drop)
        try:
            rows.append({"scale": scale, **measure(store, args.lots, args.seed)})
        finally:
            store.dispose()
        print(f"  {orjson.dumps(rows[-1]).decode()}", file=sys.stderr)
    if args.json:
        print(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return 0
    head = ("scale", "edges", "lots: full/stopped/trace p50", "bare p50/p95", "bare stopped p50/p95",
            "trace p50/p95", "trace/stopped p50, p95")  # fmt: skip
    print(" | ".join(head))
    for r in rows:
        print(" | ".join([
            f"{r['scale']:g}", f"{r['edges']:,}",
            f"{r['bare_lots_p50']:g}/{r['stopped_lots_p50']:g}/{r['trace_lots_p50']:g}",
            f"{r['bare_p50_ms']:.2f}/{r['bare_p95_ms']:.2f} ms",
            f"{r['stopped_p50_ms']:.2f}/{r['stopped_p95_ms']:.2f} ms",
            f"{r['trace_p50_ms']:.2f}/{r['trace_p95_ms']:.2f} ms",
            f"{r['ratio_p50']:.2f}x, {r['ratio_p95']:.2f}x",
        ]))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
