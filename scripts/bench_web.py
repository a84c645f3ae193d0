"""Server time of the workbench's pages over a generated national year on PostgreSQL.

    python scripts/bench_web.py [--scale 300] [--requests 60] [--pg postgresql://postgres@127.0.0.1:5432]

Builds (once, then reuses) a database ``reetrace_bench_web_s<scale>`` from ``reetrace generate`` loaded
through ``reetrace.load_dataset``, saves a whole-store audit run, starts ``reetrace serve`` (uvicorn, one
worker) on 127.0.0.1, signs in as an inspector, and requests each kind of page: search by a lower-case
lot-code prefix, a lot, findings filtered by rule/enterprise/period, and the trace page of lots with
about 100 ancestors. It reports the server's own time per page (the ``Server-Timing`` header, so the
loopback network is left out) as p50 / p95 / max, next to the library call the page stands on, timed
in this process in the same run (search_lots, lot_report, trace_back): the ratio is what the page adds.

Loopback only; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg

import reetrace

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench-data"
_RUNNING = re.compile(rb"Uvicorn running on http://127\.0\.0\.1:(\d+)")
TARGETS_MS = {"search": 300, "lot": 300, "findings": 300, "trace": 500}


def _db(pg: str, scale: float) -> str:
    name = f"reetrace_bench_web_s{str(scale).replace('.', '_')}"
    base = pg.rstrip("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


def _build(url: str, scale: float) -> None:
    store = reetrace.open_store(url)
    try:
        position, _ = store.head()
        if position > 0:
            print(f"reusing {url} ({position:,} log records)", flush=True)
        else:
            out = DATA / f"web-s{scale}"
            if not (out / "manifest.json").exists():
                print(f"generating scale {scale} into {out} …", flush=True)
                reetrace.generate_dataset(
                    out, year=2025, scale=scale, seed=2025, inject=list(reetrace.INJECTION_KINDS)
                )
            print("loading through reetrace.load_dataset …", flush=True)
            t0 = time.perf_counter()
            reetrace.load_dataset(store, out)
            print(f"loaded in {time.perf_counter() - t0:.0f} s", flush=True)
            with store.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        if reetrace.latest_audit(store) is None:
            print("saving a whole-store audit run …", flush=True)
            saved = reetrace.audit_and_save(store)
            print(f"audit: {len(saved.findings):,} findings in {saved.seconds:.1f} s", flush=True)
        if not reetrace.has_admin(store):
            reetrace.add_principal(store, "bench-operator", "admin")
        if "bench-inspector" not in {p["name"] for p in reetrace.list_principals(store)}:
            reetrace.add_principal(store, "bench-inspector", "inspector")
    finally:
        store.dispose()


def _serve(url: str) -> tuple[subprocess.Popen[bytes], str]:
    env = {**os.environ, "REETRACE_DB": url, "REETRACE_LOCK_TIMEOUT": "30"}
    cmd = [sys.executable, "-m", "uvicorn", "reetrace.service.app:app_from_env", "--factory",
           "--host", "127.0.0.1", "--port", "0", "--workers", "1", "--log-level", "info",
           "--no-access-log"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    port: list[int] = []
    ready = threading.Event()

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            m = _RUNNING.search(line)
            if m and not port:
                port.append(int(m.group(1)))
                ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    if not ready.wait(120) or not port:
        proc.kill()
        raise SystemExit("the service did not start")
    return proc, f"http://127.0.0.1:{port[0]}"


def _ms(resp: httpx.Response) -> float:
    m = re.search(r"app;dur=([\d.]+)", resp.headers.get("server-timing", ""))
    if resp.status_code != 200 or m is None:
        raise SystemExit(f"{resp.request.url}: {resp.status_code} {resp.text[:300]}")
    return float(m.group(1))


def _stats(xs: list[float]) -> str:
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(0.95 * len(xs)))]
    return f"p50 {statistics.median(xs):7.1f}  p95 {p95:7.1f}  max {xs[-1]:7.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=300.0)
    ap.add_argument("--requests", type=int, default=60, help="requests per page kind")
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    url = _db(args.pg, args.scale)
    _build(url, args.scale)

    store = reetrace.open_store(url)
    token = reetrace.issue_token(store, "bench-inspector").token
    lots = [h.lot for h in reetrace.search_lots(store, limit=1000, order="recorded").hits]
    magnets = [h.lot for h in reetrace.search_lots(store, form="magnet", limit=400).hits]
    edges = 0
    with store.reading() as conn:
        edges = int(conn.exec_driver_sql("SELECT count(*) FROM edges").scalar_one())
    print(f"store: {edges:,} edges", flush=True)
    # Lots with about a hundred ancestors, for the trace page (the issue's yardstick).
    traced: list[str] = []
    for lot in rng.sample(magnets, min(len(magnets), 150)):
        n = len(reetrace.trace_back(store, lot).nodes)
        if 60 <= n <= 160:
            traced.append(lot)
        if len(traced) >= args.requests:
            break
    if not traced:
        raise SystemExit("no lot with 60–160 ancestors among the sampled magnets")
    rules = list(reetrace.RULES)
    saved = reetrace.latest_audit(store)
    ents = sorted({f["enterprise"] for f in saved.findings if f["enterprise"]}) if saved else []

    proc, base = _serve(url)
    results: dict[str, list[float]] = {k: [] for k in TARGETS_MS}
    library: dict[str, list[float]] = {"search": [], "lot": [], "trace": []}
    deadline = time.monotonic() + 1800
    try:
        with httpx.Client(base_url=base, cookies={"reetrace_session": token}, timeout=120) as client:
            client.get("/search?q=warm")  # the first request builds templates and catalogs
            for i in range(args.requests):
                if time.monotonic() > deadline:
                    break
                lot = rng.choice(lots)
                prefix = lot.partition(":")[2][:6].lower()
                results["search"].append(_ms(client.get(f"/search?q={quote(prefix)}")))
                t0 = time.perf_counter()
                reetrace.search_lots(store, text=prefix, limit=50)
                library["search"].append((time.perf_counter() - t0) * 1000)

                results["lot"].append(_ms(client.get(f"/lots/{quote(lot, safe='')}")))
                t0 = time.perf_counter()
                reetrace.lot_report(store, lot)
                library["lot"].append((time.perf_counter() - t0) * 1000)

                q = f"/findings?rule={rules[i % len(rules)]}"
                if ents and i % 2:
                    q += f"&enterprise={rng.choice(ents)}"
                if i % 3 == 0:
                    q += "&from=2025-03&to=2025-06"
                results["findings"].append(_ms(client.get(q)))

                t = traced[i % len(traced)]
                results["trace"].append(_ms(client.get(f"/lots/{quote(t, safe='')}/trace")))
                t0 = time.perf_counter()
                reetrace.trace_back(store, t, findings_for=reetrace.audit_findings)
                library["trace"].append((time.perf_counter() - t0) * 1000)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        store.dispose()

    print(f"\nworkbench pages, server time, {edges:,} edges, {args.requests} requests each")
    for kind, xs in results.items():
        ok = "meets" if sorted(xs)[int(0.95 * (len(xs) - 1))] <= TARGETS_MS[kind] else "MISSES"
        ref = ""
        if kind in library:
            ratio = statistics.median(xs) / statistics.median(library[kind])
            ref = (
                f"   library call p50 {statistics.median(library[kind]):6.1f} ms, page/library {ratio:4.1f}×"
            )
        print(f"{kind:9} {_stats(xs)}   {ok} p95 ≤ {TARGETS_MS[kind]} ms{ref}")


if __name__ == "__main__":
    main()
