"""Lot search benchmark: ``search_lots`` on a store of a million lots, with and without the prefix index.

    .venv/bin/python scripts/bench_search.py                          # SQLite, 1,000,000 lots
    .venv/bin/python scripts/bench_search.py --db postgresql://postgres@127.0.0.1/bench_search
    .venv/bin/python scripts/bench_search.py --lots 100000 --json

The store gets ``--lots`` synthetic output lines (35 enterprises, one creating event each), written
straight into ``events`` and ``lots`` through the store's own row writer: what is measured is the
search, not the load. ``search_lots`` (lot codes only, ``references=False``) and ``similar_lots`` are
timed on ``--queries`` random prefixes (8 and 2–4 characters without ``ENT:``, 14 with it), then the
search index of migration 0004 is dropped and the same queries timed again: the ratio is what the index
buys. The document/customs-entry search is not part of this benchmark (the synthetic store has no
documents); ``scripts/bench_web.py`` times it over a generated year.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta

import orjson

import reetrace
from reetrace.elements import ELEMENTS
from reetrace.store.schema import SEARCH_INDEXES, enterprises, events, lots

ENTERPRISES = [f"ENT{i:02d}" for i in range(35)]
FORMS = ("ore", "concentrate", "oxide", "metal", "alloy", "magnet")


def fill(store: reetrace.Store, n: int) -> list[str]:
    rng = random.Random(1)
    codes: list[str] = []
    start = datetime(2025, 1, 1, tzinfo=UTC)
    conn = store.begin_write()
    try:
        batch_e: list[tuple[object, ...]] = []
        batch_l: list[tuple[object, ...]] = []
        for pos in range(1, n + 1):
            ent = ENTERPRISES[pos % len(ENTERPRISES)]
            code = (
                f"{rng.choice('ABCDEFGHJK')}{rng.choice(FORMS)[:3].upper()}-{2500 + pos % 12:04d}-{pos:07d}"
            )
            codes.append(f"{ent}:{code}")
            at = start + timedelta(minutes=pos % 500_000)
            batch_e.append(
                (pos, 0, 1, ent, f"e{pos}", "process", None, at, None, "separation", None, "0" * 64)
            )
            form = FORMS[pos % len(FORMS)]
            batch_l.append((pos + 100, 0, f"{ent}:{code}", ent, form, form, 1000.0, 50.0, None, 500.0,
                            *([None] * len(ELEMENTS))))  # fmt: skip
            if len(batch_e) == 50_000:
                store.write_rows(conn, events, batch_e)
                store.write_rows(conn, lots, batch_l)
                batch_e, batch_l = [], []
        store.write_rows(conn, events, batch_e)
        store.write_rows(conn, lots, batch_l)
        registry = [(n + 1, ent, ent, None, None, "separation", True) for n, ent in enumerate(ENTERPRISES)]
        store.write_rows(conn, enterprises, registry)  # the lots' holders: what a code search spans
        conn.commit()
    finally:
        conn.close()
    with store.engine.begin() as c:
        c.exec_driver_sql("ANALYZE")
    return codes


def timed(fn: object, args: list[str]) -> tuple[list[float], list[int]]:
    out, found = [], []
    for a in args:
        t0 = time.perf_counter()
        got = fn(a)  # type: ignore[operator]
        out.append((time.perf_counter() - t0) * 1000)
        found.append(len(got.hits) if hasattr(got, "hits") else len(got))
    return out, found


def summary(timing: tuple[list[float], list[int]]) -> dict[str, float]:
    ms = sorted(timing[0])
    return {
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(ms[int(len(ms) * 0.95) - 1], 2),
        "mean_results": round(statistics.mean(timing[1]), 1),  # a page holds 50 at most
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", help="a store URL (default: a temporary SQLite file)")
    ap.add_argument("--lots", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    url = args.db or f"sqlite:///{os.path.join(tmp, 'search.db')}"
    store = reetrace.open_store(url)
    t0 = time.perf_counter()
    codes = fill(store, args.lots)
    load_s = time.perf_counter() - t0
    rng = random.Random(7)
    picks = rng.sample(codes, args.queries)
    prefixes = [p.split(":")[1][:8].lower() for p in picks]  # without ENT:, lower case: the hard case
    shorts = [p.split(":")[1][: 2 + n % 3].lower() for n, p in enumerate(picks)]  # 2-4 characters
    full = [p[:14].lower() for p in picks]  # with ENT:
    typos = [p[:-2] + p[-1] + p[-2] for p in picks]  # two characters swapped

    def search(text: str) -> object:
        return reetrace.search_lots(store, text, references=False, limit=50)

    def near(text: str) -> object:
        return reetrace.similar_lots(store, text)

    result: dict[str, object] = {"backend": store.dialect, "lots": args.lots, "load_s": round(load_s, 1)}
    for label in ("with_index", "without_index"):
        search(prefixes[0])  # warm
        result[label] = {
            "search CODE-prefix": summary(timed(search, prefixes)),
            "search short prefix": summary(timed(search, shorts)),
            "search ENT:CODE-prefix": summary(timed(search, full)),
            "did you mean": summary(timed(near, typos[: max(10, args.queries // 5)])),
        }
        if label == "with_index":
            with store.engine.begin() as c:
                c.exec_driver_sql(f"DROP INDEX {SEARCH_INDEXES[store.dialect]}")
    store.dispose()
    if args.json:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    else:
        for k, v in result.items():
            print(f"{k}: {v}")


if __name__ == "__main__":
    main()
