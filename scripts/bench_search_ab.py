"""The search library against an earlier revision of it, in one process, alternating, on one store:
the two inputs that missed p95 300 ms over a national year (issue #13), a text that matches nothing with
its "did you mean", and a period and a form past page 1.

    python scripts/bench_search_ab.py --db postgresql://postgres@127.0.0.1:5432/my_year [--before 8e248d7]

``--before``: a git revision whose ``src/reetrace/search.py`` is loaded next to the current one (it
runs on today's store layer, so it must use only the ``Dialect`` methods that still exist). Both see
the same store and inputs, taking turns which goes first; the results must be equal, and the script
stops if they are not. It prints p50 and max per input and version, the ratio of the p50s, and the load
average. A store: ``scripts/bench_web_year.py``. Every loop is bounded in count.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import reetrace

ROOT = Path(__file__).resolve().parent.parent
FORMS = ("ore", "concentrate", "oxide", "metal", "alloy", "magnet")


def _earlier(rev: str, into: Path) -> ModuleType:
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:src/reetrace/search.py"], check=True, capture_output=True
    ).stdout
    path = into / "search_before.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("search_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["search_before"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--before", default="8e248d7", help="the revision to compare with")
    ap.add_argument("--requests", type=int, default=20, help="inputs of each kind")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        before = _earlier(args.before, Path(tmp))
    store = reetrace.open_store(args.db)
    lots = [h.lot for h in reetrace.search_lots(store, limit=1000, order="recorded").hits]
    load = os.getloadavg()
    times: dict[tuple[str, str], list[float]] = {}
    try:
        for i in range(args.requests):
            code = rng.choice(lots).partition(":")[2]
            miss = f"{code[:5]}q{code[5:]}".lower()  # no generated code has a q
            month, form = f"2025-{rng.randint(1, 12):02d}", rng.choice(FORMS)
            versions: list[tuple[str, Any]] = [("before", before), ("after", reetrace)]
            answers: dict[str, list[Any]] = {}
            for name, lib in versions if i % 2 else versions[::-1]:
                t0 = time.perf_counter()
                found = lib.search_lots(store, miss, limit=50)
                near = lib.similar_lots(store, miss) if not found.hits else []
                t1 = time.perf_counter()
                page = lib.search_lots(store, period=month, form=form, limit=50, offset=200)
                t2 = time.perf_counter()
                times.setdefault((name, "no match + did you mean"), []).append((t1 - t0) * 1000)
                times.setdefault((name, "period + form, page 5"), []).append((t2 - t1) * 1000)
                answers[name] = [found.to_dict(), near, page.to_dict()]
            if answers["before"] != answers["after"]:
                raise SystemExit(f"the versions disagree on {miss!r} or {month} {form}")
    finally:
        store.dispose()
    after = os.getloadavg()
    print(f"{args.requests} inputs each; load average {load[0]:.2f} before, {after[0]:.2f} after")
    for kind in ("no match + did you mean", "period + form, page 5"):
        old, new = times["before", kind], times["after", kind]
        print(
            f"{kind:24} {args.before}: p50 {statistics.median(old):7.1f} max {max(old):7.1f} ms   "
            f"now: p50 {statistics.median(new):7.1f} max {max(new):7.1f} ms   "
            f"{statistics.median(old) / statistics.median(new):5.1f}× faster"
        )


if __name__ == "__main__":
    main()
