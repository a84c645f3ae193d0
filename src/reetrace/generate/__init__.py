"""A generated national dataset: registry, monthly submissions, manifest and ground truth.

``generate(outdir)`` writes::

    registry.json                       groups, enterprises, sites, quotas (docs/contract/files.md)
    submissions/YYYY-MM/<ENT>.jsonl     one file per enterprise per month (empty: a nil report)
    manifest.json                       the submissions in load order, each with its received_at
    ground_truth.json                   every injected violation: kind, rule, enterprise, lots, events

The same arguments give the same bytes. A clean dataset (no ``inject``) breaks no audit rule: lots are
never over-drawn, every ship has its receive, every process balances element by element within the
loss bands, and each group stays under its quotas. Memory holds only the open stock and small write
buffers, so large scales stream.

Modules: :mod:`.industry` (registry and plans), :mod:`.profiles` (element profiles), :mod:`.lots`
(open stock), :mod:`.events` (one chain step -> one event), :mod:`.flows` (the monthly chain),
:mod:`.inject` (violations), :mod:`.timeline` (times), :mod:`.writer` (files).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from reetrace.generate.economy import Economy
from reetrace.generate.industry import build_industry
from reetrace.generate.inject import EXPECTED_RULE, KINDS, Injection, Injector, parse_kinds
from reetrace.generate.timeline import period, received_at
from reetrace.generate.writer import SubmissionWriter

__all__ = ["EXPECTED_RULE", "KINDS", "GenerateSummary", "Injection", "generate"]


@dataclass
class GenerateSummary:
    """What :func:`generate` wrote. ``files`` counts submission files (empty ones included)."""

    outdir: Path
    enterprises: int
    events: int
    lot_lines: int
    #: input x output pairs of every event that has both
    edges: int
    submissions: int
    files: int
    injected: list[Injection] = field(default_factory=list)


def _dump(path: Path, doc: Any) -> None:
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))


def generate(
    outdir: Path,
    *,
    year: int = 2025,
    months: int = 12,
    scale: float = 1.0,
    seed: int = 0,
    inject: Sequence[str] = (),
    fmt: Literal["jsonl", "csv"] = "jsonl",
    progress: Callable[[int], None] | None = None,
) -> GenerateSummary:
    """Generate a national dataset into ``outdir`` (created if needed; same-named files overwritten).

    ``scale=1`` is demo-sized (a few thousand events a year); events grow linearly with ``scale``
    (``scale=100`` is roughly the real industry's tonnage). ``inject`` names violations to plant
    (see :data:`KINDS`, or ``"all"``); an unknown kind raises ValueError. ``progress`` is called with
    the number of months written so far, after each month.
    """
    if not 1 <= months <= 12:
        raise ValueError(f"months must be 1..12 (one quota year), got {months}")
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number, got {scale}")
    if fmt not in ("jsonl", "csv"):
        raise ValueError(f"unknown format {fmt!r}: use jsonl or csv")
    if not 2000 <= year <= 2100:
        raise ValueError(f"year {year} is out of range")
    kinds = parse_kinds(inject)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)

    # One generator per concern, so that e.g. adding an injection does not reshuffle the registry.
    industry = build_industry(year, scale, random.Random(f"{seed}:registry"))
    _dump(outdir / "registry.json", industry.registry())
    writer = SubmissionWriter(outdir, fmt)
    injector = Injector(kinds, months, industry.actors, random.Random(f"{seed}:inject"))
    econ = Economy(industry, random.Random(f"{seed}:flows"), writer, injector)
    receipts = random.Random(f"{seed}:receipts")
    codes = [a.code for a in industry.actors]
    manifest: list[dict[str, str]] = []
    for month in range(1, months + 1):
        econ.run_month(month)
        for ent in writer.close_month(codes, skip=injector.missing(month)):
            manifest.append({
                "enterprise": ent,
                "period": period(year, month),
                "file": writer.path(ent),
                "received_at": received_at(year, month, receipts, late=injector.is_late(ent, month)),
            })  # fmt: skip
        if progress is not None:
            progress(month)
    injector.finish()
    # Load order is arrival order; times share one offset, so the strings sort chronologically.
    manifest.sort(key=lambda r: (r["received_at"], r["enterprise"]))
    _dump(outdir / "manifest.json", manifest)

    def path_of(ent: str, month: int) -> str:
        return f"submissions/{period(year, month)}/{ent}.{fmt}"

    injected = injector.records + injector.reporting_records(year, path_of)
    _dump(
        outdir / "ground_truth.json",
        {
            "seed": seed,
            "year": year,
            "months": months,
            "scale": scale,
            "format": fmt,
            "injected": [i.to_dict() for i in injected],
        },
    )
    return GenerateSummary(
        outdir=outdir,
        enterprises=len(codes),
        events=writer.events,
        lot_lines=writer.lot_lines,
        edges=writer.edges,
        submissions=len(manifest),
        files=writer.files,
        injected=injected,
    )
