"""EPCIS export speed, next to JSON Lines of the same events, in the same run:

1. **from memory** — N generated events to an EPCIS document file (``write_document``), next to JSON
   Lines of the same events (``orjson.dumps(ev.canonical())``);
2. **from a store** — the same dataset loaded into a SQLite store and exported whole with
   ``reetrace.export_epcis`` (events read from the log frames, validated back into events, hash IDs,
   retracts resolved in the store), next to a JSON Lines export of the same events from the same
   store (the record bytes of the same log frames, one per line: no decoding, no mapping).

    .venv/bin/python scripts/bench_epcis.py [--scale 1] [--repeat 3]

Parsing and loading are not timed. Each writer writes to a temporary file; the best of ``--repeat``
runs is reported, as events/s of wall-clock time and of this process's CPU time (on a shared machine the
wall clock also counts the time other processes held the cores), and the EPCIS/JSONL wall-time ratio.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import sqlalchemy as sa

import reetrace
from reetrace import Event, read_events
from reetrace.epcis import write_document
from reetrace.epcis.store_export import record_bytes
from reetrace.store.schema import events as events_table
from reetrace.store.schema import log


def _load(tmp: Path) -> list[Event]:
    events: list[Event] = []
    for f in sorted((tmp / "gen" / "submissions").glob("*/*.jsonl")):
        with f.open("rb") as fp:
            events += [p.event for p in read_events(fp, "jsonl") if p.event is not None]
    return events


def _best(run: Callable[[], None], repeat: int) -> tuple[float, float]:
    """The best wall-clock time and the best CPU time of ``repeat`` runs."""
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        run()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu)


def _line(label: str, n: int, t: tuple[float, float], path: Path) -> None:
    wall, cpu = t
    print(
        f"  {label:<31} {n / wall:9,.0f} events/s ({n / cpu:9,.0f} per CPU second)"
        f"  {path.stat().st_size / 1e6:6.1f} MB"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        reetrace.generate_dataset(tmp / "gen", scale=args.scale)
        events = _load(tmp)
        n = len(events)

        def epcis() -> None:
            with (tmp / "out.jsonld").open("wb") as fp:
                write_document(events, fp)

        def jsonl() -> None:
            with (tmp / "out.jsonl").open("wb") as fp:
                for ev in events:
                    fp.write(orjson.dumps(ev.canonical()) + b"\n")

        t_epcis = _best(epcis, args.repeat)
        t_jsonl = _best(jsonl, args.repeat)
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"{n:,} events (scale {args.scale}), best of {args.repeat}; load average {load}")
        print("from memory:")
        _line("EPCIS 2.0 (with hash IDs):", n, t_epcis, tmp / "out.jsonld")
        _line("JSON Lines (canonical):", n, t_jsonl, tmp / "out.jsonl")
        print(f"  EPCIS takes {t_epcis[0] / t_jsonl[0]:.2f}x the time of JSON Lines")

        store = reetrace.open_store(f"sqlite:///{tmp / 'store.db'}")
        reetrace.load_dataset(store, tmp / "gen")
        counted = 0

        def store_epcis() -> None:
            nonlocal counted
            with (tmp / "store.jsonld").open("wb") as fp:
                counted = reetrace.export_epcis(store, fp)

        def store_jsonl() -> None:
            q = (
                sa.select(log.c.body)
                .join(events_table, events_table.c.position == log.c.position)
                .order_by(log.c.position)
            )
            with store.reading() as conn, (tmp / "store.jsonl").open("wb") as fp:
                for (body,) in conn.execution_options(stream_results=True, yield_per=2000).execute(q):
                    fp.write(record_bytes(bytes(body)) + b"\n")

        t_s_epcis = _best(store_epcis, args.repeat)
        t_s_jsonl = _best(store_jsonl, args.repeat)
        store.dispose()
        print(f"from a SQLite store ({counted:,} events, retracts resolved in the store):")
        _line("reetrace.export_epcis:", counted, t_s_epcis, tmp / "store.jsonld")
        _line("JSON Lines of the log records:", counted, t_s_jsonl, tmp / "store.jsonl")
        print(f"  EPCIS takes {t_s_epcis[0] / t_s_jsonl[0]:.2f}x the time of JSON Lines")


if __name__ == "__main__":
    main()
