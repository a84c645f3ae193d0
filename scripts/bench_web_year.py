"""Build the generated national year that ``scripts/bench_web.py`` measures, faster than
``reetrace.load_dataset``: the same files through the writer ``submit`` uses, without the checks across
records.

    python scripts/bench_web_year.py --db postgresql://postgres@127.0.0.1:5432/my_year [--scale 300]
    python scripts/bench_web.py --db postgresql://postgres@127.0.0.1:5432/my_year --requests 20

Each record is validated and encoded as ``submit`` does (the record rules included), appended to the
chain and the Merkle tree, and derived into every table (events, lots, inputs, edges, documents,
submissions, retractions) by the submission writer. Left out are the other checks across records (own
lots exist, output lots are new, no cycle) and the warnings, whose recursive walks make a national year
take over an hour on a busy 2-core machine. The generated files pass those checks (``load_dataset``
loads them), so the store holds the same records and rows. For benchmarks only: it builds its data
below the public API, as bench_search.py and bench_tlog.py do.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

import reetrace
from reetrace.intake.checks import _retractions as record_retractions
from reetrace.intake.dataset import read_manifest, registry_file
from reetrace.intake.files import read_events
from reetrace.intake.parser import RecordRules, prepare
from reetrace.intake.registry import load, parse_registry
from reetrace.intake.writer import SubmissionWriter
from reetrace.periods import Period
from reetrace.store.chain import canonical
from reetrace.store.derive import submission_row
from reetrace.store.schema import sites, submissions

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench-data"


def load_unchecked(store: reetrace.Store, directory: Path) -> None:
    """The year's files through the writer ``submit`` uses (validation, canonical records, the chain,
    the Merkle tree, every derived row) but without the checks across records and the warnings, which
    take over an hour for a national year on a busy 2-core machine. For benchmarks only: the generated
    files pass those checks (``load_dataset`` loads them), so the store holds the same records."""
    reg = registry_file(directory)
    if reg is not None:
        load(store, parse_registry(str(reg)), source=str(reg))
    with store.reading() as conn:
        site_rows = conn.execute(sa.select(sites.c.enterprise, sites.c.code)).all()
    for n, entry in enumerate(read_manifest(directory), start=1):
        ent, per = entry["enterprise"], Period.parse(entry["period"])
        own = frozenset(code for holder, code in site_rows if holder == ent)
        rules = RecordRules(ent, own, str(per), per.start(), per.end())
        path = directory / entry["file"]
        received = datetime.fromisoformat(entry.get("received_at") or per.deadline().isoformat())
        envelope = {
            "enterprise": ent, "period": str(per), "received_at": received.isoformat(),
            "received_at_given": True, "deadline": per.deadline().isoformat(),
            "late": received > per.deadline(), "source": path.name, "digest": "0" * 64,
        }  # fmt: skip
        with path.open("rb") as raw, store.appending() as app:
            env_pos = app.append("submission", canonical(envelope))
            app.add(submissions, submission_row(env_pos, envelope))
            writer = SubmissionWriter(app, ent, env_pos, app.position - 1, path.name)
            writer.run(prepare(read_events(raw, "jsonl", path.name), rules, path.name), 2000)
            # Of the checks across records, the one that also writes rows: a retract's target.
            app.flush()
            record_retractions(writer, app.conn, {"start": writer.start, "ent": ent})
            if writer.problems:
                raise SystemExit(f"{path}: {writer.problems[0]}")
        if n % 50 == 0:
            print(f"  {n} files", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", required=True, help="an empty PostgreSQL or SQLite store")
    ap.add_argument("--scale", type=float, default=300.0)
    args = ap.parse_args()
    out = DATA / f"web-s{args.scale}"
    if not (out / "manifest.json").exists():
        print(f"generating scale {args.scale} into {out} …", flush=True)
        reetrace.generate_dataset(
            out, year=2025, scale=args.scale, seed=2025, inject=list(reetrace.INJECTION_KINDS)
        )
    store = reetrace.open_store(args.db)
    try:
        if store.head()[0] > 0:
            raise SystemExit(f"{args.db} is not empty")
        t0 = time.perf_counter()
        load_unchecked(store, out)
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        print(f"loaded in {time.perf_counter() - t0:.0f} s: {store.head()[0]:,} log records", flush=True)
    finally:
        store.dispose()


if __name__ == "__main__":
    main()
