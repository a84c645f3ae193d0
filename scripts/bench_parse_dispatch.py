"""Where forking parser processes starts to pay: the same files submitted by the library on PostgreSQL,
parsed in the submitting process and in forked parser processes, alternating, in one run.

    .venv/bin/python scripts/bench_parse_dispatch.py                     # 100 … 10,000 events, 5 runs
    .venv/bin/python scripts/bench_parse_dispatch.py --events 100,2500 --runs 9 --ballast-mb 0

``REETRACE_PARSE_FORK_BYTES`` forces each way (0: always fork; a huge value: never). The submitting
process first allocates ``--ballast-mb`` MB (default 200, about a service worker's size), since a fork
costs more from a bigger process. Reported per file size: the median wall time of a whole
``reetrace.submit`` each way and their ratio (forked / in-process: above 1, forking costs more than it
saves), next to the default threshold (``reetrace submit`` forks from 1 MiB of content), and the load
average, which decides how much a second core is worth on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

import reetrace

sys.path.insert(0, str(Path(__file__).parent))
from bench_serve import drop_db, fresh_db, mine_file

WAYS = {"in-process": str(1 << 40), "forked": "0"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", default="100,1000,2500,5000,10000", help="events per file, comma-separated")
    ap.add_argument("--runs", type=int, default=5, help="submissions of each size each way (the median)")
    ap.add_argument("--ballast-mb", type=int, default=200)
    args = ap.parse_args()
    sizes = [int(n) for n in args.events.split(",")]
    ballast = [bytes(1 << 20) for _ in range(args.ballast_mb)]
    db = fresh_db()
    store = None
    try:
        with tempfile.TemporaryDirectory(prefix="reetrace-bench-dispatch-") as tmpdir:
            tmp = Path(tmpdir)
            reetrace.generate_dataset(tmp / "data", months=1, scale=0.2)
            registry = orjson.loads((tmp / "data" / "registry.json").read_bytes())
            ent, site = next((s["enterprise"], s["code"]) for s in registry["sites"] if s["kind"] == "mine")
            store = reetrace.open_store(db)
            reetrace.load_registry(store, reetrace.parse_registry(str(tmp / "data" / "registry.json")))
            months = iter(f"{y}-{m:02d}" for y in range(2001, 2100) for m in range(1, 13))
            print(
                f"{'events':>7} {'KiB':>7} {'in-process ms':>14} {'forked ms':>10} {'forked/in-process':>18}"
            )
            for n in sizes:
                times: dict[str, list[float]] = {way: [] for way in WAYS}
                size = 0
                for k in range(args.runs):
                    order = list(WAYS.items()) if k % 2 == 0 else list(reversed(WAYS.items()))
                    for way, value in order:
                        period = next(months)
                        f = tmp / "file.jsonl"
                        size = mine_file(f, ent, site, period, f"D{n}-{k}-{way[0]}", n)
                        os.environ["REETRACE_PARSE_FORK_BYTES"] = value
                        t = time.perf_counter()
                        r = reetrace.submit(store, str(f), enterprise=ent, period=period)
                        times[way].append(time.perf_counter() - t)
                        assert r.new_events == n, r.message()
                inp, fork = (statistics.median(times[w]) for w in WAYS)
                mark = "  (forked by default)" if size >= 1 << 20 else ""
                print(
                    f"{n:>7} {size / 1024:>7.0f} {inp * 1000:>14.0f} {fork * 1000:>10.0f} {fork / inp:>18.2f}{mark}"
                )
    finally:
        os.environ.pop("REETRACE_PARSE_FORK_BYTES", None)
        if store is not None:
            store.dispose()
        drop_db(db)
    del ballast
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"median of {args.runs} per size and way; load average {load}")


if __name__ == "__main__":
    main()
