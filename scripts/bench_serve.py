"""Submission-day benchmark of ``reetrace serve``: every enterprise's month submitted concurrently through
the service (PostgreSQL, uvicorn with N workers, a bounded client pool, loopback only), next to the same
files submitted in-process by the library, in the same run, each on a fresh database.

    .venv/bin/python scripts/bench_serve.py                       # scale 2, 3 months, 2 workers, 8 clients
    .venv/bin/python scripts/bench_serve.py --scale 10 --months 1 --stream-mb 500

Reported: submissions/s and events/s of both, the ratio, p50/p95/max latency per request, the p95 of a
100-event file submitted alone (uncontended; with the server's own time from ``Server-Timing`` and, as
the reference, the same kind of file submitted by the library in-process on the other database); reads
(``--reads`` requests: a lot, a lot-code prefix search and a lot's trace back, in turn, over ``--clients``
connections) per second and their latency, next to the same library calls made in-process one after
another; and the server's RSS (sum over its processes, sampled every 50 ms) before, at peak and after
``--stream-mb`` MB of valid uploads streamed through it. Proof
that nothing is lost: every receipt is present and is read back from the log, the envelope positions and
their events are contiguous and the log has no gap, and ``reetrace.verify`` passes on both databases.
Everything is bounded: a request timeout, a client pool size and a wall-clock limit for the whole run.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg

import reetrace

ADMIN = os.environ.get("REETRACE_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
_RUNNING = re.compile(rb"Uvicorn running on http://127\.0\.0\.1:(\d+)")
REQUEST_TIMEOUT_S = 600.0


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def check(self, what: str) -> None:
        if time.monotonic() > self.end:
            raise SystemExit(f"bench_serve: wall-clock limit reached during {what}")


#: Name prefix of the throwaway databases (``--db-prefix``: people sharing a server tell theirs apart).
DB_PREFIX = "reetrace_bench_"


def fresh_db() -> str:
    name = f"{DB_PREFIX}{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{ADMIN.rsplit('/', 1)[0]}/{name}"


def drop_db(url: str) -> None:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def rss_tree_kb(pid: int) -> int:
    """Resident set size of a process and all its descendants (kB), from /proc."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        t0 = time.monotonic()
        while not self.stop.wait(0.05):
            self.samples.append((time.monotonic() - t0, rss_tree_kb(self.pid)))

    def peak_mb(self) -> float:
        return max((kb for _, kb in self.samples), default=0) / 1024


def start_server(db: str, workers: int, max_upload_mb: int) -> tuple[subprocess.Popen[bytes], str]:
    env = {**os.environ, "REETRACE_DB": db, "REETRACE_MAX_UPLOAD_MB": str(max_upload_mb),
           "REETRACE_LOCK_TIMEOUT": "120"}  # fmt: skip
    cmd = [sys.executable, "-m", "uvicorn", "reetrace.service.app:app_from_env", "--factory", "--host",
           "127.0.0.1", "--port", "0", "--workers", str(workers),
           "--http", "reetrace.service.http:NoDelayHTTPProtocol", "--log-level", "warning"]  # fmt: skip
    # --http: the protocol `reetrace serve` runs its workers with (TCP_NODELAY, see service/http.py).
    # uvicorn prints its address at "info"; at "warning" it does not: read it from a tiny info log.
    cmd[-1] = "info"
    cmd += ["--no-access-log"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    deadline = time.monotonic() + 120
    port = None
    while port is None and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        m = _RUNNING.search(line)
        if m:
            port = int(m.group(1))
    if port is None:
        proc.kill()
        raise SystemExit("the service did not start")
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    return proc, url


def prepare(db: str, data: Path, enterprises: list[str]) -> dict[str, str]:
    """Registry, an admin, and a principal with a token for every enterprise."""
    store = reetrace.open_store(db)
    try:
        reetrace.load_registry(store, reetrace.parse_registry(str(data / "registry.json")))
        reetrace.add_principal(store, "operator", "admin")
        tokens = {"admin": reetrace.issue_token(store, "operator").token}
        for ent in enterprises:
            reetrace.add_principal(store, f"p-{ent}", "enterprise", enterprise=ent)
            tokens[ent] = reetrace.issue_token(store, f"p-{ent}").token
        reetrace.add_principal(store, "inspector", "inspector")
        tokens["inspector"] = reetrace.issue_token(store, "inspector").token
    finally:
        store.dispose()
    return tokens


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def check_nothing_lost(db: str, receipts: list[dict[str, Any]]) -> dict[str, Any]:
    """Every receipt in the log (read back from the primary), envelopes and their events contiguous."""
    store = reetrace.open_store(db)
    try:
        for r in receipts:
            if r["position"] is None:
                continue
            back = reetrace.submission_receipt(store, r["position"])
            assert back is not None and back["digest"] == r["digest"], r
            ev = back["events"]
            assert ev["count"] == r["new_events"], (back, r)
            if ev["count"]:
                assert ev["first"] == r["position"] + 1 and ev["last"] == r["position"] + ev["count"], back
        result = reetrace.verify(store)
    finally:
        store.dispose()
    return {"receipts": len(receipts), "verify": result.message()}


def in_process(db: str, data: Path, manifest: list[dict[str, Any]], dl: Deadline) -> dict[str, Any]:
    store = reetrace.open_store(db)
    try:
        reetrace.load_registry(store, reetrace.parse_registry(str(data / "registry.json")))
        t0 = time.perf_counter()
        events = 0
        receipts = []
        for e in manifest:
            dl.check("in-process submissions")
            r = reetrace.submit(store, str(data / e["file"]), enterprise=e["enterprise"], period=e["period"])
            events += r.new_events
            receipts.append({"position": r.position, "digest": r.digest, "new_events": r.new_events})
        secs = time.perf_counter() - t0
    finally:
        store.dispose()
    return {"seconds": secs, "submissions": len(manifest), "events": events, "receipts": receipts}


def through_service(
    url: str, data: Path, manifest: list[dict[str, Any]], tokens: dict[str, str], clients: int, dl: Deadline
) -> dict[str, Any]:
    by_period: dict[str, list[dict[str, Any]]] = {}
    for e in manifest:
        by_period.setdefault(e["period"], []).append(e)
    latencies: list[float] = []
    receipts: list[dict[str, Any]] = []
    lock = threading.Lock()
    local = threading.local()

    def one(e: dict[str, Any]) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S)
        path = data / e["file"]
        t = time.perf_counter()
        with path.open("rb") as fh:
            r = local.client.post(
                "/v1/submissions", params={"enterprise": e["enterprise"], "period": e["period"],
                                           "filename": path.name},
                headers={"Authorization": f"Bearer {tokens[e['enterprise']]}"}, content=fh,
            )  # fmt: skip
        dt = time.perf_counter() - t
        if r.status_code not in (200, 201):
            raise SystemExit(f"{e['file']}: HTTP {r.status_code} {r.text[:500]}")
        with lock:
            latencies.append(dt)
            receipts.append(r.json())

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        for period in sorted(by_period):  # one submission day per month, every enterprise at once
            dl.check(f"service submissions of {period}")
            list(pool.map(one, by_period[period]))
    secs = time.perf_counter() - t0
    events = sum(r["new_events"] for r in receipts)
    return {"seconds": secs, "submissions": len(receipts), "events": events, "latencies": latencies,
            "receipts": receipts}  # fmt: skip


def sample_lots(data: Path, manifest: list[dict[str, Any]], n: int) -> list[str]:
    """``n`` lots the dataset creates (``ENT:LOT``), spread over its files, in a fixed order."""
    lots: list[str] = []
    per_file = max(1, n // max(1, len(manifest)) + 1)
    for e in manifest:
        found = 0
        with (data / e["file"]).open("rb") as fh:
            for line in fh:
                for out in orjson.loads(line).get("outputs") or []:
                    if found < per_file:
                        code = out["lot"]  # a code may already carry its ENT: prefix
                        lots.append(code if ":" in code else f"{e['enterprise']}:{code}")
                        found += 1
                if found >= per_file:
                    break
    return lots[:n]


def _read_calls(lot: str, k: int) -> tuple[str, dict[str, Any]]:
    """The k-th read of the mix: a lot, a prefix search, a trace back (JSON, no findings)."""
    if k % 3 == 0:
        return f"/v1/lots/{lot}", {}
    if k % 3 == 1:
        return "/v1/lots", {"prefix": lot[: max(len(lot) - 2, lot.index(":") + 2)], "limit": 20}
    return f"/v1/lots/{lot}/trace", {"findings": "false"}


def reads_in_process(db: str, lots: list[str], n: int) -> dict[str, Any]:
    """The same ``n`` reads as :func:`reads_through_service`, by the library in this process, in turn."""
    store = reetrace.open_store(db, read_only=True)
    try:
        t0 = time.perf_counter()
        for k in range(n):
            lot = lots[k % len(lots)]
            if k % 3 == 0:
                reetrace.lot_report(store, lot)
            elif k % 3 == 1:
                prefix = _read_calls(lot, k)[1]["prefix"]
                reetrace.find_lots(store, prefix, limit=20)
            else:
                with store.reading() as conn:
                    reetrace.trace_back(conn, lot).to_dict()
        secs = time.perf_counter() - t0
    finally:
        store.dispose()
    return {"seconds": secs, "reads": n}


def reads_through_service(url: str, token: str, lots: list[str], n: int, clients: int) -> dict[str, Any]:
    """``n`` reads over ``clients`` connections at once (each answered 200, else the run stops)."""
    local = threading.local()
    latencies: list[float] = []
    lock = threading.Lock()

    def one(k: int) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client(
                base_url=url, timeout=REQUEST_TIMEOUT_S, headers={"Authorization": f"Bearer {token}"}
            )
        path, params = _read_calls(lots[k % len(lots)], k)
        t = time.perf_counter()
        r = local.client.get(path, params=params)
        dt = time.perf_counter() - t
        if r.status_code != 200:
            raise SystemExit(f"GET {path}: HTTP {r.status_code} {r.text[:300]}")
        with lock:
            latencies.append(dt)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(one, range(n)))
    return {"seconds": time.perf_counter() - t0, "reads": n, "latencies": latencies}


def mine_file(path: Path, enterprise: str, site: str, period: str, tag: str, events: int) -> int:
    with path.open("wb") as fh:
        for i in range(events):
            fh.write(orjson.dumps({
                "event_id": f"{tag}-{i}", "type": "extract", "enterprise": enterprise, "site": site,
                "occurred_at": f"{period}-{1 + i % 28:02d}T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}+08:00",
                "outputs": [{"lot": f"{tag}-L{i}", "product": "Bayan Obo concentrate", "form": "concentrate",
                             "mass_kg": 1000 + i % 997, "reo_pct": 50,
                             "elements": {"La": 23.0, "Ce": 50.0, "Pr": 6.2, "Nd": 18.5, "Sm": 0.8, "Eu": 0.2,
                                          "Gd": 0.7, "Tb": 0.1, "Dy": 0.1, "Y": 0.4}}],
            }) + b"\n")  # fmt: skip
    return path.stat().st_size


def uncontended(
    url: str, token: str, ent: str, site: str, tmp: Path, n: int, period: str
) -> tuple[list[float], list[float]]:
    """``n`` 100-event files submitted one after another: the latency of a small file, alone, as the
    client sees it and as the server's ``Server-Timing`` header says it spent (seconds)."""
    out, server = [], []
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as c:
        for k in range(n):
            f = tmp / f"small-{k}.jsonl"
            mine_file(f, ent, site, period, f"U{k}", 100)
            t = time.perf_counter()
            r = c.post("/v1/submissions", params={"enterprise": ent, "period": period},
                       headers={"Authorization": f"Bearer {token}"}, content=f.read_bytes())  # fmt: skip
            out.append(time.perf_counter() - t)
            assert r.status_code == 201, r.text
            server.append(float(r.headers["server-timing"].rpartition("dur=")[2]) / 1000)
    return out, server


def small_in_process(db: str, ent: str, site: str, tmp: Path, n: int, period: str) -> list[float]:
    """The reference for :func:`uncontended`: the same kind of 100-event files submitted by the library
    in this process (the same store code, no HTTP, no service), one after another."""
    store = reetrace.open_store(db)
    out = []
    try:
        for k in range(n):
            f = tmp / f"small-lib-{k}.jsonl"
            mine_file(f, ent, site, period, f"S{k}", 100)
            t = time.perf_counter()
            r = reetrace.submit(store, str(f), enterprise=ent, period=period)
            out.append(time.perf_counter() - t)
            assert r.new_events == 100, r.message()
    finally:
        store.dispose()
    return out


def stream(
    url: str, token: str, ent: str, site: str, tmp: Path, total_mb: int, file_mb: int
) -> dict[str, Any]:
    """``total_mb`` of valid uploads, ``file_mb`` each, one after another (each streamed from disk)."""
    events_per_file = max(1, file_mb * 1024 * 1024 // 430)
    sent = 0
    k = 0
    receipts = []
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as c:
        while sent < total_mb * 1024 * 1024:
            f = tmp / "big.jsonl"
            sent += mine_file(f, ent, site, "2025-11", f"B{k}", events_per_file)
            with f.open("rb") as fh:
                r = c.post("/v1/submissions", params={"enterprise": ent, "period": "2025-11"},
                           headers={"Authorization": f"Bearer {token}"}, content=fh)  # fmt: skip
            assert r.status_code == 201, r.text[:500]
            receipts.append(r.json())
            k += 1
    return {"mb": sent / 1024 / 1024, "files": k, "receipts": receipts}


def main() -> None:
    global DB_PREFIX
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=2.0)
    ap.add_argument("--months", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--small", type=int, default=40, help="100-event files submitted alone, for the p95")
    ap.add_argument("--stream-mb", type=int, default=500)
    ap.add_argument("--file-mb", type=int, default=25)
    ap.add_argument("--reads", type=int, default=600, help="read requests (lot, search, trace) after the day")
    ap.add_argument("--db-prefix", default=DB_PREFIX, help="name prefix of the throwaway databases")
    ap.add_argument("--limit-s", type=float, default=1800, help="wall-clock limit of the whole run")
    args = ap.parse_args()
    DB_PREFIX = args.db_prefix
    dl = Deadline(args.limit_s)
    with tempfile.TemporaryDirectory(prefix="reetrace-bench-serve-") as tmpdir:
        tmp = Path(tmpdir)
        data = tmp / "data"
        reetrace.generate_dataset(data, months=args.months, scale=args.scale)
        manifest = reetrace.read_manifest(data)
        enterprises = sorted({e["enterprise"] for e in manifest})
        registry = orjson.loads((data / "registry.json").read_bytes())
        ent, site = next((s["enterprise"], s["code"]) for s in registry["sites"] if s["kind"] == "mine")
        size_mb = sum((data / e["file"]).stat().st_size for e in manifest) / 1024 / 1024
        print(f"dataset: scale {args.scale}, {args.months} months, {len(enterprises)} enterprises, "
              f"{len(manifest)} files, {size_mb:.1f} MB")  # fmt: skip

        db_lib, db_svc = fresh_db(), fresh_db()
        proc = None
        try:
            lib = in_process(db_lib, data, manifest, dl)
            lib_check = check_nothing_lost(db_lib, lib["receipts"])
            tokens = prepare(db_svc, data, enterprises)
            proc, url = start_server(db_svc, args.workers, max(args.file_mb * 2, 64))
            sampler = RssSampler(proc.pid)
            sampler.start()
            time.sleep(0.3)
            rss_idle = rss_tree_kb(proc.pid) / 1024
            svc = through_service(url, data, manifest, tokens, args.clients, dl)
            dl.check("reads")
            lots = sample_lots(data, manifest, 200)
            lib_reads = reads_in_process(db_svc, lots, args.reads)
            svc_reads = reads_through_service(url, tokens["inspector"], lots, args.reads, args.clients)
            dl.check("uncontended files")
            small, small_server = uncontended(url, tokens[ent], ent, site, tmp, args.small, "2025-12")
            small_lib = small_in_process(db_lib, ent, site, tmp, args.small, "2025-12")
            rss_before_stream = rss_tree_kb(proc.pid) / 1024
            n_before = len(sampler.samples)
            dl.check("streaming")
            big = stream(url, tokens[ent], ent, site, tmp, args.stream_mb, args.file_mb)
            rss_after_stream = rss_tree_kb(proc.pid) / 1024
            stream_peak = max((kb for _, kb in sampler.samples[n_before:]), default=0) / 1024
            sampler.stop.set()
            svc_check = check_nothing_lost(db_svc, svc["receipts"] + big["receipts"])
        finally:
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            drop_db(db_lib)
            drop_db(db_svc)

    lat = svc["latencies"]
    lib_rate = lib["submissions"] / lib["seconds"]
    svc_rate = svc["submissions"] / svc["seconds"]
    print(
        f"in-process (library, sequential): {lib['submissions']} submissions, {lib['events']} events in "
        f"{lib['seconds']:.2f} s = {lib_rate:.1f} submissions/s, {lib['events'] / lib['seconds']:,.0f} events/s"
    )
    print(
        f"service ({args.workers} workers, {args.clients} clients): {svc['submissions']} submissions, "
        f"{svc['events']} events in {svc['seconds']:.2f} s = {svc_rate:.1f} submissions/s, "
        f"{svc['events'] / svc['seconds']:,.0f} events/s  ->  {svc_rate / lib_rate:.2f}x in-process"
    )
    print(
        f"latency per submission under load: p50 {statistics.median(lat) * 1000:.0f} ms, "
        f"p95 {pct(lat, 0.95) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms"
    )
    rlat = svc_reads["latencies"]
    lib_rps = lib_reads["reads"] / lib_reads["seconds"]
    svc_rps = svc_reads["reads"] / svc_reads["seconds"]
    print(
        f"reads (lot, prefix search, trace back in turn; {len(lots)} lots): in-process sequential "
        f"{lib_rps:.0f} reads/s; service ({args.workers} workers, {args.clients} clients) {svc_rps:.0f} reads/s "
        f"->  {svc_rps / lib_rps:.2f}x in-process; p50 {statistics.median(rlat) * 1000:.0f} ms, "
        f"p95 {pct(rlat, 0.95) * 1000:.0f} ms, max {max(rlat) * 1000:.0f} ms"
    )
    print(
        f"100-event file alone ({args.small} runs): p50 {statistics.median(small) * 1000:.0f} ms, "
        f"p95 {pct(small, 0.95) * 1000:.0f} ms, max {max(small) * 1000:.0f} ms; in the server "
        f"(Server-Timing) p50 {statistics.median(small_server) * 1000:.0f} ms, "
        f"p95 {pct(small_server, 0.95) * 1000:.0f} ms; the library in-process (same run) p50 "
        f"{statistics.median(small_lib) * 1000:.0f} ms, p95 {pct(small_lib, 0.95) * 1000:.0f} ms "
        f"-> service p95 {pct(small, 0.95) / pct(small_lib, 0.95):.2f}x the library's"
    )
    print(
        f"server RSS (all processes): idle {rss_idle:.0f} MB, before streaming {rss_before_stream:.0f} MB, "
        f"peak while {big['mb']:.0f} MB streamed in {big['files']} files {stream_peak:.0f} MB, "
        f"after {rss_after_stream:.0f} MB; peak of the run {sampler.peak_mb():.0f} MB"
    )
    print(f"nothing lost: library {lib_check['receipts']} receipts, {lib_check['verify']}")
    print(f"nothing lost: service {svc_check['receipts']} receipts read back, {svc_check['verify']}")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"run at {datetime.now().astimezone().isoformat(timespec='seconds')}, load average {load}")


if __name__ == "__main__":
    main()
