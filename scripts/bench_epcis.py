"""EPCIS export speed: N generated events to an EPCIS document file, next to JSON Lines of the same
events (``orjson.dumps(ev.canonical())``), in the same run.

    .venv/bin/python scripts/bench_epcis.py [--scale 0.2] [--repeat 3]

Both writers get the same in-memory events (parsing is not timed) and write to a temporary file; the
best of ``--repeat`` runs is reported, as events/s and the EPCIS/JSONL time ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from reetrace import Event, read_events
from reetrace.epcis import write_document
from reetrace.generate import generate


def _load(scale: float, tmp: Path) -> list[Event]:
    generate(tmp / "gen", scale=scale)
    events: list[Event] = []
    for f in sorted((tmp / "gen" / "submissions").glob("*/*.jsonl")):
        with f.open("rb") as fp:
            events += [p.event for p in read_events(fp, "jsonl") if p.event is not None]
    return events


def _best(run: Callable[[], None], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        events = _load(args.scale, tmp)
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
        size_e = (tmp / "out.jsonld").stat().st_size
        size_j = (tmp / "out.jsonl").stat().st_size
    print(f"{n:,} events (scale {args.scale}), best of {args.repeat}")
    print(f"EPCIS 2.0 (with hash IDs): {n / t_epcis:12,.0f} events/s  {size_e / 1e6:8.1f} MB")
    print(f"JSON Lines (canonical):    {n / t_jsonl:12,.0f} events/s  {size_j / 1e6:8.1f} MB")
    print(f"EPCIS takes {t_epcis / t_jsonl:.2f}x the time of JSON Lines")


if __name__ == "__main__":
    main()
