"""What each event of a subgraph draws from its inputs, and the share of its outputs each input makes.

The share of an output that comes from one of the inputs feeding it is that input's drawn REO over the
total drawn REO of the inputs feeding it (docs/contract/events.md); per element, the same with the
element's drawn kg. An input's drawn content is ``drawn mass × content per kg`` of its creating line.
The inputs that feed an output are its edges: every input of a ``process`` (a blend), the one paired
input of a ``receive`` (so a received lot's shares are its source's, unchanged). Outputs of one event
fed by the same inputs with the same drawn masses (all outputs of a process) share one
:class:`EventFlow`, computed once.

Estimates, used only where the record is silent, and always flagged:

- **Unknown content** (the input lot has no effective creating event: unexplained, or a counterparty's
  lot not reported yet): its REO per kg is taken from the event's outputs — for a ``receive`` the REO
  per kg of the lots it was received as (custody does not change the material); for a ``process`` the
  total output REO over the total drawn mass. Its element profile is that of the outputs.
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

from reetrace.elements import ELEMENTS
from reetrace.trace.select import EdgeRow, EventInfo, LotRow, Totals, event_totals


@dataclass(slots=True)
class EventFlow:
    """Outputs of one event fed by the same inputs: those inputs' drawn mass and content and shares."""

    event: EventInfo
    #: The output lots (edge destinations) this flow feeds.
    outputs: list[str]
    #: src lot -> drawn mass kg that feeds these outputs (insertion order = edge order).
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


#: Output lot -> the flow that feeds it (outputs fed alike share one :class:`EventFlow` object).
Flows = dict[str, EventFlow]


def unique(flows: Flows) -> list[EventFlow]:
    """Each flow once (several outputs may share one)."""
    return list({id(f): f for f in flows.values()}.values())


def event_flows(
    conn: Connection,
    edges: Iterable[EdgeRow],
    lots: dict[str, LotRow],
    events: dict[int, EventInfo],
    elements: Sequence[int],
) -> Flows:
    """The flow into every output lot with an edge in ``edges`` (``events``: position -> event). Every
    edge into such a lot must be in ``edges``.

    ``elements`` are the indexes (into ELEMENTS) whose shares are wanted; empty: REO only.
    """
    into: dict[str, dict[str, float]] = defaultdict(dict)
    position: dict[str, int] = {}
    for e in edges:
        into[e.dst][e.src] = e.mass_kg
        position[e.dst] = e.position
    # Outputs fed by the same inputs with the same masses (every output of a process, the outputs of a
    # legacy blended receive) form one group; a receive's pairs, and the parts of a lot split on
    # arrival (apportioned masses), are groups of their own.
    groups: dict[tuple[int, tuple[tuple[str, float], ...]], list[str]] = {}
    for dst, srcs in into.items():
        groups.setdefault((position[dst], tuple(sorted(srcs.items()))), []).append(dst)
    need = [pos for (pos, _), dsts in groups.items() if _needs_totals(into[dsts[0]], lots, bool(elements))]
    totals = event_totals(conn, need) if need else {}
    out: Flows = {}
    for (pos, _), dsts in groups.items():
        flow = _flow(events[pos], dsts, into[dsts[0]], lots, totals.get(pos), elements)
        for dst in dsts:
            out[dst] = flow
    return out


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
    outputs: list[str],
    drawn: dict[str, float],
    lots: dict[str, LotRow],
    totals: Totals | None,
    elements: Sequence[int],
) -> EventFlow:
    n = len(drawn)
    if event.type == "receive":
        # What the outputs were received as: the content of unknown inputs (custody keeps the material).
        totals = _received_as(outputs, lots) or totals
    if n == 1:
        # Most flows (every paired receive, most refining steps) have one input: its share is 1
        # whatever its content, so only its drawn REO (for the edge) is worked out.
        ((src, kg),) = drawn.items()
        lot = lots.get(src)
        if lot is not None and lot.known:
            assert lot.mass_kg is not None and lot.reo_kg is not None
            one = {src: lot.reo_kg * kg / lot.mass_kg}
        else:
            one = {src: kg * _estimated_concentration(event, totals, kg, {}, drawn)}
        ones = {src: (1.0,) * len(elements)} if elements else None
        return EventFlow(event, outputs, drawn, one, {src: 1.0}, ones, False, False)
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
        return EventFlow(event, outputs, drawn, reo, share, None, estimated, False)
    el_share, profile_est, by_reo = _element_shares(drawn, reo, share, el_kg, totals, elements)
    return EventFlow(event, outputs, drawn, reo, share, el_share, estimated, profile_est, by_reo)


def _received_as(outputs: list[str], lots: dict[str, LotRow]) -> Totals | None:
    """Totals over the given output lots of a receive, from the subgraph (no query); None when one of
    them is not on record."""
    mass = reo = profiled = 0.0
    els = [0.0] * len(ELEMENTS)
    for key in outputs:
        lot = lots.get(key)
        if lot is None or not lot.known:
            return None
        assert lot.mass_kg is not None and lot.reo_kg is not None
        mass += lot.mass_kg
        reo += lot.reo_kg
        if lot.elements is not None:
            profiled += lot.reo_kg
            for j, x in enumerate(lot.elements):
                els[j] += x
    return Totals(mass, reo, profiled, tuple(els))


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
