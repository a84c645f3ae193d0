"""What each event of a subgraph draws from its inputs, and the share of its outputs each input makes.

At an event, the share of an output that comes from an input is that input's drawn REO over the
event's total drawn REO (docs/contract/events.md); per element, the same with the element's drawn
kg. An input's drawn content is ``drawn mass × content per kg`` of its creating line.

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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from reetrace.trace.select import EdgeRow, EventInfo, LotRow, Totals, event_totals


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
    #: The element shares rest on an estimated profile of some input.
    profile_estimated: bool
    #: Indexes (into the wanted elements) that no input carries: weighted by REO instead.
    by_reo: tuple[int, ...] = ()

    def element_estimated(self, weights: Sequence[float]) -> bool:
        """Whether an estimate touches the element shares that matter (``weights`` > 0)."""
        if self.element_share is None:
            return False
        if self.profile_estimated:
            return any(x > 0 for x in weights)
        return any(weights[j] > 0 for j in self.by_reo)


def event_flows(
    conn: Connection,
    edges: Iterable[EdgeRow],
    lots: dict[str, LotRow],
    events: dict[int, EventInfo],
    elements: Sequence[int],
) -> dict[int, EventFlow]:
    """Flows of every event with an edge in ``edges`` (``events``: position -> event).

    ``elements`` are the indexes (into ELEMENTS) whose shares are wanted; empty: REO only.
    """
    inputs: dict[int, dict[str, float]] = defaultdict(dict)
    for e in edges:
        # Every output of an event has an edge from every input, all with the same drawn mass.
        inputs[e.position][e.src] = e.mass_kg
    need = [pos for pos, srcs in inputs.items() if _needs_totals(srcs, lots, bool(elements))]
    totals = event_totals(conn, need) if need else {}
    return {pos: _flow(events[pos], srcs, lots, totals.get(pos), elements) for pos, srcs in inputs.items()}


def _needs_totals(srcs: dict[str, float], lots: dict[str, LotRow], with_elements: bool) -> bool:
    """An estimate from the event's outputs is needed: an input of unknown content, or (for element
    shares) inputs of known and of unknown profile mixed."""
    profiled = unprofiled = False
    for src in srcs:
        lot = lots.get(src)
        if lot is None or not lot.known:
            return True
        if lot.elements is None:
            unprofiled = True
        else:
            profiled = True
    return with_elements and profiled and unprofiled


def _flow(
    event: EventInfo,
    drawn: dict[str, float],
    lots: dict[str, LotRow],
    totals: Totals | None,
    elements: Sequence[int],
) -> EventFlow:
    n = len(drawn)
    if n == 1:
        # Most events of a chain (every receive, most refining steps) have one input: its share is 1
        # whatever its content, so only its drawn REO (for the edge) is worked out.
        ((src, kg),) = drawn.items()
        lot = lots.get(src)
        if lot is not None and lot.known:
            assert lot.mass_kg is not None and lot.reo_kg is not None
            one = {src: lot.reo_kg * kg / lot.mass_kg}
        else:
            one = {src: kg * _estimated_concentration(event, totals, kg, {}, drawn)}
        ones = {src: (1.0,) * len(elements)} if elements else None
        return EventFlow(event, drawn, one, {src: 1.0}, ones, False, False)
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
    el_share, profile_est, by_reo = _element_shares(drawn, reo, share, el_kg, totals, elements)
    return EventFlow(event, drawn, reo, share, el_share, estimated, profile_est, by_reo)


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
) -> tuple[dict[str, tuple[float, ...]], bool, tuple[int, ...]]:
    """(element shares per input, profile estimated, elements weighted by REO)."""
    k = len(elements)
    if len(drawn) == 1:
        (src,) = drawn
        return {src: (1.0,) * k}, False, ()
    profiled = [s for s in drawn if el_kg[s] is not None]
    if not profiled:
        # No input has a known profile: a common estimated profile gives exactly the REO weights.
        return {s: (share[s],) * k for s in drawn}, True, ()
    estimated = len(profiled) < len(drawn)
    profile = _estimated_profile(totals, el_kg, reo, profiled, elements) if estimated else []
    filled: dict[str, list[float]] = {}
    for s in drawn:
        kg = el_kg[s]
        filled[s] = kg if kg is not None else [reo[s] * p for p in profile]
    sums = [sum(kg[j] for kg in filled.values()) for j in range(k)]
    out = {
        s: tuple(kg[j] / sums[j] if sums[j] > 0 else share[s] for j in range(k)) for s, kg in filled.items()
    }
    return out, estimated, tuple(j for j in range(k) if sums[j] <= 0)


def _estimated_profile(
    totals: Totals | None,
    el_kg: dict[str, list[float] | None],
    reo: dict[str, float],
    profiled: list[str],
    elements: Sequence[int],
) -> list[float]:
    """Element kg per REO kg assumed for the inputs of unknown profile (the wanted elements)."""
    if totals is not None and totals.profiled_reo_kg > 0:
        return [totals.elements[j] / totals.profiled_reo_kg for j in elements]
    base = sum(reo[s] for s in profiled)
    known = [kg for s in profiled if (kg := el_kg[s]) is not None]
    return [sum(kg[j] for kg in known) / base for j in range(len(elements))]
