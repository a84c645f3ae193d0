"""What each event of a subgraph draws from its inputs, and the share of its outputs each input makes.

At an event, the share of an output that comes from an input is that input's drawn REO over the
event's total drawn REO (BRIEF §3); per element, the same with the element's drawn kg. An input's
drawn content is ``drawn mass × content per kg`` of its creating line.

Estimates, used only where the record is silent, and always flagged:

- **Unknown content** (the input lot has no effective creating event: unexplained, or a counterparty's
  lot not reported yet): its REO per kg is taken from the event's outputs — for a ``receive`` the
  receiving lots' own REO per kg (custody does not change the material); for a ``process`` the total
  output REO over the total drawn mass. Its element profile is that of the outputs.
- **Unknown profile** (content known, elements not reported): its profile is that of the event's
  outputs with a known profile, else that of the inputs with a known profile. When no input of the
  event has a known profile, any common profile gives the same result: element weights = REO weights.
- An element no input carries although an output does (an audit finding in its own right): that
  element is weighted by REO at that event.

An event with one input needs no estimate: the input's share is 1 whatever its content.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from reetrace.trace.select import EventInfo, Lot, Subgraph, Totals, event_totals


@dataclass(slots=True)
class EventFlow:
    """One event of the subgraph: its inputs' drawn mass and content and their shares."""

    event: EventInfo
    #: src lot -> drawn mass kg (insertion order = edge order).
    drawn: dict[str, float]
    #: src lot -> drawn REO kg (estimated for inputs of unknown content).
    reo: dict[str, float]
    #: src lot -> share of each output's REO.
    share: dict[str, float]
    #: src lot -> share of each output's element kg, for the elements asked for (None: not asked).
    element_share: dict[str, tuple[float, ...]] | None
    #: The REO shares rest on an estimated content.
    estimated: bool
    #: Some element shares rest on an estimated profile.
    element_estimated: bool


def _group(sub: Subgraph, skip: set[str]) -> dict[int, dict[str, float]]:
    """Inputs per event: position -> {src: drawn kg}. Edges into ``skip`` lots are left out."""
    per: dict[int, dict[str, float]] = defaultdict(dict)
    for e in sub.edges:
        if e.dst not in skip:
            # Every output of an event has an edge from every input, all with the same drawn mass.
            per[e.position][e.src] = e.mass_kg
    return per


def event_flows(
    conn: Connection,
    sub: Subgraph,
    creator: dict[int, Lot],
    elements: Sequence[int],
    skip: set[str] = frozenset(),  # type: ignore[assignment]
) -> dict[int, EventFlow]:
    """Flows of every event with edges in ``sub``; ``creator[position]`` is one of its output lots.

    ``elements`` are the indexes (into ELEMENTS) whose shares are wanted; empty: REO only.
    """
    inputs = _group(sub, skip)
    lots = sub.lots
    need_totals = [
        pos
        for pos, srcs in inputs.items()
        if len(srcs) > 1 and any(_needs_estimate(lots.get(s), bool(elements)) for s in srcs)
    ]
    totals = event_totals(conn, need_totals) if need_totals else {}
    return {
        pos: _flow(creator[pos].created, srcs, lots, totals.get(pos), elements)  # type: ignore[arg-type]
        for pos, srcs in inputs.items()
    }


def _needs_estimate(lot: Lot | None, with_elements: bool) -> bool:
    if lot is None or not lot.known:
        return True
    return with_elements and lot.elements is None


def _flow(
    event: EventInfo,
    drawn: dict[str, float],
    lots: dict[str, Lot],
    totals: Totals | None,
    elements: Sequence[int],
) -> EventFlow:
    n = len(drawn)
    reo: dict[str, float] = {}
    el_kg: dict[str, list[float] | None] = {}
    unknown: list[str] = []
    for src, kg in drawn.items():
        lot = lots.get(src)
        if lot is None or not lot.known:
            unknown.append(src)
            continue
        assert lot.mass_kg is not None and lot.reo_kg is not None
        per_kg = kg / lot.mass_kg
        reo[src] = lot.reo_kg * per_kg
        el_kg[src] = [lot.elements[j] * per_kg for j in elements] if lot.elements else None

    estimated = bool(unknown) and n > 1
    if unknown:
        in_mass = sum(drawn.values())
        conc = _estimated_concentration(event, totals, in_mass, reo, drawn)
        for src in unknown:
            reo[src] = drawn[src] * conc
            el_kg[src] = None
    total_reo = sum(reo.values())
    if total_reo > 0:
        share = {src: reo[src] / total_reo for src in drawn}
    else:  # nothing known about any input's content: fall back to drawn mass
        in_mass = sum(drawn.values())
        share = {src: kg / in_mass for src, kg in drawn.items()}

    if not elements:
        return EventFlow(event, drawn, reo, share, None, estimated, False)
    el_share, el_est = _element_shares(drawn, reo, share, el_kg, totals, elements)
    return EventFlow(event, drawn, reo, share, el_share, estimated, el_est)


def _estimated_concentration(
    event: EventInfo,
    totals: Totals | None,
    in_mass: float,
    reo: dict[str, float],
    drawn: dict[str, float],
) -> float:
    """REO per kg for the inputs of unknown content (see the module docstring)."""
    if totals is not None and totals.reo_kg > 0:
        if event.type == "receive":
            return totals.reo_kg / totals.mass_kg
        return totals.reo_kg / in_mass
    known_mass = sum(drawn[s] for s in reo)
    return sum(reo.values()) / known_mass if known_mass > 0 else 0.0


def _element_shares(
    drawn: dict[str, float],
    reo: dict[str, float],
    share: dict[str, float],
    el_kg: dict[str, list[float] | None],
    totals: Totals | None,
    elements: Sequence[int],
) -> tuple[dict[str, tuple[float, ...]], bool]:
    k = len(elements)
    if len(drawn) == 1:
        (src,) = drawn
        return {src: (1.0,) * k}, False
    profiled = [s for s in drawn if el_kg[s] is not None]
    if not profiled:
        # No input has a known profile: a common estimated profile gives exactly the REO weights.
        return {s: (share[s],) * k for s in drawn}, True
    estimated = len(profiled) < len(drawn)
    if estimated:
        profile = _estimated_profile(totals, el_kg, reo, profiled, elements)
        for s in drawn:
            if el_kg[s] is None:
                el_kg[s] = [reo[s] * p for p in profile]
    sums = [sum(el_kg[s][j] for s in drawn) for j in range(k)]  # type: ignore[index]
    out: dict[str, tuple[float, ...]] = {}
    for s in drawn:
        kg = el_kg[s]
        assert kg is not None
        out[s] = tuple(kg[j] / sums[j] if sums[j] > 0 else share[s] for j in range(k))
    return out, estimated or any(x <= 0 for x in sums)


def _estimated_profile(
    totals: Totals | None,
    el_kg: dict[str, list[float] | None],
    reo: dict[str, float],
    profiled: list[str],
    elements: Sequence[int],
) -> list[float]:
    """Element kg per REO kg assumed for the inputs of unknown profile."""
    if totals is not None and totals.profiled_reo_kg > 0:
        return [totals.elements[j] / totals.profiled_reo_kg for j in elements]
    base = sum(reo[s] for s in profiled)
    return [sum(el_kg[s][i] for s in profiled) / base for i in range(len(elements))]  # type: ignore[index]
