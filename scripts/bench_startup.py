"""Start-up benchmark: whole processes, timed from outside, in one run.

    .venv/bin/python scripts/bench_startup.py            # 15 runs of each
    .venv/bin/python scripts/bench_startup.py --runs 30 --json

* ``reetrace --version`` next to ``sqlite-utils --version`` (the reference: another click CLI over a
  database, in the dev extra): CPU time (user + sys of the child, from ``os.wait4``), wall time and peak
  RSS, median of ``--runs``, the two commands alternating so that both meet the same machine load.
* ``reetrace submit`` of a two-event file (``examples/NMMINE-2025-03.jsonl``) on SQLite: each run on a
  fresh copy of a store prepared once with the registry of ``examples/`` loaded. The prepared store is
  already migrated (its first use, the registry load, migrated it), so a submit finds the schema at head
  and skips Alembic; the first use of a new file is timed apart (``registry load`` on a new file, which
  creates the schema).

* The floor under ``reetrace submit``: a Python process that only imports the libraries it stands on
  (click, SQLAlchemy with its SQLite dialect, pydantic), timed alternately with the submits, so that
  ``submit / floor`` says how much of the start-up is reetrace's own.

Targets: ``reetrace --version`` at most 1.2x sqlite-utils' CPU time; ``reetrace submit`` at most 0.5 s
wall. Wall times on a loaded machine include waiting for a core: CPU time is the steadier figure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

import reetrace

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FILE = EXAMPLES / "NMMINE-2025-03.jsonl"
#: The libraries a submit cannot do without, imported and nothing else (see the docstring).
FLOOR = "import click, pydantic, sqlalchemy, sqlalchemy.dialects.sqlite; pydantic.BaseModel.model_config"


def _exe(name: str) -> str:
    """A console script of this environment (next to the interpreter), else from PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found: pip install -e '.[dev]'")
    return found


def run_once(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Run ``cmd`` to completion: wall s, CPU s (user + sys of that child alone), peak RSS MB."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read() if proc.stderr else b""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err.decode(errors='replace')}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024}


def summary(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.median(r[k] for r in runs), 4) for k in runs[0]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=15, help="runs of each command (the median counts)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    rt, su = _exe("reetrace"), _exe("sqlite-utils")
    # An installed reetrace has its .pyc files; with PYTHONDONTWRITEBYTECODE set (as in some shells and
    # CI images) every run would compile each module of the submit path from source again, ~0.15 s CPU
    # that no user pays. The warm-up runs below write them.
    env = {k: v for k, v in os.environ.items() if k not in ("REETRACE_DB", "PYTHONDONTWRITEBYTECODE")}
    results: dict[str, list[dict[str, float]]] = {
        "reetrace": [],
        "sqlite-utils": [],
        "submit": [],
        "floor": [],
        "first": [],
    }
    floor = [sys.executable, "-c", FLOOR]
    for cmd in ([rt, "--version"], [su, "--version"]):  # warm the page cache and the .pyc files
        run_once(cmd, env)
    for i in range(args.runs):
        pair = (("reetrace", [rt, "--version"]), ("sqlite-utils", [su, "--version"]))
        for name, cmd in pair if i % 2 == 0 else reversed(pair):
            results[name].append(run_once(cmd, env))

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.db"
        store = reetrace.open_store(f"sqlite:///{prepared}")
        reetrace.load_registry(store, reetrace.parse_registry(str(EXAMPLES / "registry.json")))
        store.dispose()
        submit = [rt, "submit", str(FILE), "-e", "NMMINE", "-p", "2025-03",
                  "--historical", "--received-at", "2025-04-08T09:30:00+08:00", "--quiet"]  # fmt: skip
        first = [rt, "registry", "load", str(EXAMPLES / "registry.json")]
        warm = Path(tmp) / "warm.db"  # one untimed submit and first use: the .pyc files of their paths
        shutil.copy(prepared, warm)
        run_once([*submit, "--db", f"sqlite:///{warm}"], env)
        run_once([*first, "--db", f"sqlite:///{Path(tmp) / 'warm-new.db'}"], env)
        for i in range(args.runs):
            db = Path(tmp) / f"run{i}.db"
            shutil.copy(prepared, db)
            results["submit"].append(run_once([*submit, "--db", f"sqlite:///{db}"], env))
            db.unlink()
            results["floor"].append(run_once(floor, env))
            new = Path(tmp) / f"new{i}.db"
            results["first"].append(run_once([*first, "--db", f"sqlite:///{new}"], env))
            new.unlink()

    out: dict[str, Any] = {name: summary(runs) for name, runs in results.items()}
    out["runs"] = args.runs
    out["version_cpu_ratio"] = round(out["reetrace"]["cpu_s"] / out["sqlite-utils"]["cpu_s"], 2)
    out["submit_over_floor_cpu"] = round(out["submit"]["cpu_s"] / out["floor"]["cpu_s"], 2)
    out["targets_met"] = {
        "version_cpu_at_most_1.2x": out["version_cpu_ratio"] <= 1.2,
        "submit_wall_at_most_0.5s": out["submit"]["wall_s"] <= 0.5,
    }
    if args.json:
        print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
        return 0
    labels = {
        "reetrace": "reetrace --version",
        "sqlite-utils": "sqlite-utils --version",
        "submit": "reetrace submit (2 events, SQLite)",
        "floor": "floor: import click, sqlalchemy, pydantic",
        "first": "reetrace registry load, new file (migrates)",
    }
    print(f"{'command':<46}{'CPU s':>8}{'wall s':>8}{'peak RSS MB':>13}   (median of {args.runs})")
    for name, label in labels.items():
        r = out[name]
        print(f"{label:<46}{r['cpu_s']:>8.3f}{r['wall_s']:>8.3f}{r['rss_mb']:>13.1f}")
    print(f"reetrace --version CPU / sqlite-utils --version CPU: {out['version_cpu_ratio']:.2f}x "
          f"(target <= 1.2x); submit wall {out['submit']['wall_s']:.3f} s (target <= 0.5 s), "
          f"CPU {out['submit_over_floor_cpu']:.2f}x the floor's; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
