"""Run the hostile corpus (tests/hostile/corpus.py) on a fresh store and print the README's table.

    .venv/bin/python scripts/hostile_corpus.py                      # a temporary SQLite file
    .venv/bin/python scripts/hostile_corpus.py --db postgresql://postgres@127.0.0.1:5432/scratch

The PostgreSQL database must be empty (or new); the script does not drop it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests package

from tests.builders import load_registry
from tests.hostile.corpus import periods_from, run_corpus, table

from reetrace import open_store


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", help="store URL (default: a temporary SQLite file)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/hostile.db"
        store = open_store(url)
        try:
            load_registry(store)
            outcomes = run_corpus(store, url, Path(tmp), periods_from("2015-01"))
        finally:
            store.dispose()
    print(f"backend: {url.split(':')[0]}")
    print(table(outcomes))
    for o in outcomes:
        if not o.ok:
            print(f"\nNOT AS EXPECTED: {o.case} [{o.path}] -> {o.result}\n{o.detail[:2000]}")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
