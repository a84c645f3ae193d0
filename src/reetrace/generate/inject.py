"""Injected violations: each breaks one audit rule, on purpose, and is named in ground_truth.json.

An injection runs at one phase of one month (``before`` the phase's own events, ``after`` them, or once
their times are ``stamped``), with its own random generator, and keeps every record valid under the
models: these are findings for the audit, not input errors for the loader. Material an injection
creates is ``frozen`` where leaving it in the chain would trip other rules (extra ore would push the
next month's separation over its quota too). Side findings that cannot be avoided are named in the
record's ``detail``. Injections that move a plant's monthly balance (laundering, diversion, yield
inflation, over-quota separation) each take a different plant, so no two blur one balance.

If a month offers no candidate (a tiny scale), the injection waits for the next month;
:meth:`Injector.finish` raises if one never found its place.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from reetrace.generate.economy import IMPORT_LOT_T, ORE_LOT_T, ORES, Economy
from reetrace.generate.industry import DEPOSIT_PROFILE, GROUP_REGION, Actor
from reetrace.generate.lots import Ev, Lot
from reetrace.generate.profiles import DEPOSITS, element_kg, perturb
from reetrace.generate.timeline import HOUR, iso, period

#: Injection kind -> the audit rule it must trigger.
EXPECTED_RULE: dict[str, str] = {
    "laundering": "unexplained_lot",
    "unexplained_purchase": "unexplained_lot",
    "overquota_mining": "quota_exceeded",
    "overquota_separation": "quota_exceeded",
    "double_draw": "overdrawn_lot",
    "unmatched_custody": "unmatched_custody",
    "short_custody": "unmatched_custody",
    "unapproved_separator": "unauthorised_actor",
    "recycler_concentrate": "unauthorised_actor",
    "late_report": "reporting",
    "missing_report": "reporting",
    "stock_gain": "stock_gain",
    "impossible_time": "impossible_time",
    "yield_inflation": "output_exceeds_input",
    "diversion": "period_mass_balance",
}
KINDS: tuple[str, ...] = tuple(EXPECTED_RULE)
#: Excess over the yearly quota an over-quota injection aims for.
QUOTA_EXCESS = 0.05


@dataclass(frozen=True)
class Injection:
    """One injected violation, as recorded in ground_truth.json."""

    kind: str
    rule: str
    enterprise: str
    lots: tuple[str, ...]
    events: tuple[str, ...]
    period: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "rule": self.rule, "enterprise": self.enterprise,
            "lots": list(self.lots), "events": list(self.events), "period": self.period,
            "detail": self.detail,
        }  # fmt: skip


def parse_kinds(kinds: Sequence[str]) -> list[str]:
    """Validate injection kinds (``"all"`` means every kind); duplicates collapse."""
    wanted: list[str] = []
    for kind in kinds:
        wanted.extend(KINDS if kind == "all" else (kind,))
    unknown = [k for k in wanted if k not in EXPECTED_RULE]
    if unknown:
        raise ValueError(
            f"unknown injection kind(s): {', '.join(unknown)}; known kinds: {', '.join(KINDS)} (or all)"
        )
    return list(dict.fromkeys(wanted))


Result = list[Injection] | None
Hook = Callable[["Injector", Economy, list[Ev]], Result]


class Injector:
    """Plans the injections, runs them at their phase, and keeps their records."""

    def __init__(
        self, kinds: Sequence[str], months: int, actors: Sequence[Actor], rng: random.Random
    ) -> None:
        self.rng = rng
        self.records: list[Injection] = []
        self.months = months
        #: kind -> earliest month it may run in
        self.pending: dict[str, int] = {}
        self.touched: set[str] = set()
        self.phantoms = 0
        #: plants an injection already works on: a second one there would blur both months' balances
        self.busy: set[str] = set()
        self._quiet: dict[int, set[str]] = {}
        self._late: set[tuple[str, int]] = set()
        self._missing: set[tuple[str, int]] = set()
        year_actors = [a for a in actors if a.kind in ("end_user", "exporter")]
        for kind in kinds:
            if kind in ("late_report", "missing_report"):
                self._plan_reporting(kind, year_actors)
            elif kind.startswith("overquota_"):
                # The last month: the year's total is known, and nothing after it adds more.
                self.pending[kind] = months
            else:
                self.pending[kind] = rng.randint(1, months)

    # -- reporting: planned up front, the month's flows keep the enterprise quiet --------------------

    def _plan_reporting(self, kind: str, candidates: list[Actor]) -> None:
        taken = {ent for ent, _ in self._late | self._missing}
        free = [a for a in candidates if a.code not in taken]
        actor = self.rng.choice(free)
        month = self.rng.randint(1, self.months)
        self._quiet.setdefault(month, set()).add(actor.code)
        (self._late if kind == "late_report" else self._missing).add((actor.code, month))

    def quiet(self, month: int) -> set[str]:
        """Enterprises that neither receive nor act this month (their report is late or missing).

        Keeping them out of the month's custody means a late or absent file hides no ship or receive
        from its counterparties: the reporting finding stands alone.
        """
        return set(self._quiet.get(month, ()))

    def is_late(self, ent: str, month: int) -> bool:
        return (ent, month) in self._late

    def missing(self, month: int) -> list[str]:
        return sorted(ent for ent, m in self._missing if m == month)

    def reporting_records(self, year: int, path: Callable[[str, int], str]) -> list[Injection]:
        out: list[Injection] = []
        for ent, month in sorted(self._late):
            out.append(Injection(
                "late_report", EXPECTED_RULE["late_report"], ent, (), (), period(year, month),
                f"{path(ent, month)} is received after the 10th of the following month (see "
                "manifest.json); the enterprise had no flows that month, so no custody is delayed",
            ))  # fmt: skip
        for ent, month in sorted(self._missing):
            out.append(Injection(
                "missing_report", EXPECTED_RULE["missing_report"], ent, (), (), period(year, month),
                f"no file and no manifest entry for {ent} {period(year, month)}; the enterprise had "
                "no flows that month, so no counterparty references it",
            ))  # fmt: skip
        return out

    # -- running ------------------------------------------------------------------------------------

    def hook(self, phase: str, stage: str, econ: Economy, evs: list[Ev]) -> None:
        for kind in list(self.pending):
            at_phase, at_stage, fn = HOOKS[kind]
            if at_phase != phase or at_stage != stage or econ.month < self.pending[kind]:
                continue
            got = fn(self, econ, evs)
            if got:
                self.records.extend(got)
                del self.pending[kind]

    def finish(self) -> None:
        if self.pending:
            raise RuntimeError(
                f"could not inject {', '.join(self.pending)}: no suitable lot or enterprise at this "
                "scale and number of months; try a larger scale or more months"
            )


# -- helpers ------------------------------------------------------------------------------------------


def _record(kind: str, enterprise: str, lots: Sequence[str], events: Sequence[str], econ: Economy,
            detail: str, rule: str | None = None) -> Injection:  # fmt: skip
    return Injection(
        kind, rule or EXPECTED_RULE[kind], enterprise, tuple(lots), tuple(events), econ.period, detail
    )


def _phantom(inj: Injector, econ: Economy) -> str:
    # A code the sender's own numbering ("R-", "OX-", ...) never produces.
    inj.phantoms += 1
    return f"X-{econ.rec.yymm}-{inj.phantoms:04d}"


def _reo(lot: Lot) -> float:
    return sum(lot.element_reo(lot.initial_g).values())


def _fresh_receipts(inj: Injector, econ: Economy, evs: list[Ev], kind: str) -> list[Ev]:
    """Receives in ``evs`` by ``kind`` enterprises whose lot is still whole and untouched."""
    return [
        ev for ev in evs
        if ev.data["type"] == "receive" and ev.twin is not None and ev.event_id not in inj.touched
        and econ.ind.by_code[ev.ent].kind == kind and ev.born and ev.born[0].mass_g == ev.born[0].initial_g
    ]  # fmt: skip


# -- the injections -----------------------------------------------------------------------------------


def _laundering(inj: Injector, econ: Economy, evs: list[Ev]) -> Result:
    """Ionic (Longnan) material with no creating event, blended into a Bayan Obo separator's feed."""
    rng = inj.rng
    seps = [
        s for s in econ.of("separator")
        if s.region == "baotou" and s.code not in inj.busy and econ.books[s.code].open_lots("feed:")
    ]  # fmt: skip
    traders = [t for t in econ.of("trader") if t.code not in econ.quiet]
    if not seps or not traders:
        return None
    sep, trader = rng.choice(seps), rng.choice(traders)
    inj.busy.add(sep.code)
    feed = econ.books[sep.code].open_lots("feed:")[0]
    reo_kg = sum(feed.element_reo(feed.mass_g).values()) * rng.uniform(0.8, 1.2)
    profile = perturb(DEPOSITS["longnan"], rng, 0.05)
    # Declared as a plain mixed carbonate with no profile: what a launderer would write.
    hidden = econ.rec.new_lot(
        sep.code, "R", "mixed rare earth carbonate", "mixed_compound", "feed:laundered",
        element_kg(profile, reo_kg), rng.uniform(42.0, 48.0), declare=False,
    )  # fmt: skip
    assert hidden is not None
    phantom = _phantom(inj, econ)
    recv = econ.rec.receive_unshipped(sep, trader, phantom, hidden)
    known = feed.element_reo(feed.mass_g)
    run = econ.rec.separate(sep, [(feed, feed.mass_g), (hidden, hidden.mass_g)])
    evs.extend([recv, run])
    out: dict[str, float] = {}
    for lot in run.born:
        for el, kg in lot.element_reo(lot.initial_g).items():
            out[el] = out.get(el, 0.0) + kg
    excess = [el for el, kg in out.items() if kg > max(known.get(el, 0.0) * 1.02, known.get(el, 0.0) + 1.0)]
    carrying = [lot.ref for lot in run.born if any(lot.shares and el in lot.shares for el in excess)]
    return [
        _record(
            "laundering",
            sep.code,
            [f"{trader.code}:{phantom}", hidden.ref],
            [recv.event_id],
            econ,
            f"{sep.code} receives {trader.code}:{phantom} ({hidden.initial_g / 1000:.1f} kg, declared "
            f"as mixed carbonate without a profile; really Longnan ionic, {reo_kg:.0f} kg REO) from "
            f"{trader.code}, which never created or shipped it. Side finding: unmatched_custody "
            "(a receive without a ship).",
        ),
        _record(
            "laundering",
            sep.code,
            [feed.ref, hidden.ref, *carrying],
            [run.event_id],
            econ,
            f"separation {run.event_id} of a Bayan Obo feed lot plus the undeclared lot yields "
            f"{', '.join(excess)} far above the declared input; side finding: the period mass "
            "balance of these elements at this separator.",
            rule="output_exceeds_input",
        ),
    ]


def _unexplained_purchase(inj: Injector, econ: Economy, evs: list[Ev]) -> Result:
    rng = inj.rng
    smelters = [s for s in econ.of("smelter") if s.code not in econ.quiet]
    traders = [t for t in econ.of("trader") if t.code not in econ.quiet]
    if not smelters or not traders:
        return None
    sm, trader = rng.choice(smelters), rng.choice(traders)
    prnd = {"Pr": 25.0, "Nd": 75.0}
    lot = econ.rec.new_lot(
        sm.code, "R", "praseodymium-neodymium oxide", "oxide", "ox:PrNd",
        element_kg(prnd, rng.uniform(1000.0, 3000.0)), 99.3,
    )  # fmt: skip
    assert lot is not None
    phantom = _phantom(inj, econ)
    recv = econ.rec.receive_unshipped(sm, trader, phantom, lot)
    evs.append(recv)
    return [
        _record(
            "unexplained_purchase",
            sm.code,
            [f"{trader.code}:{phantom}"],
            [recv.event_id],
            econ,
            f"{sm.code} receives {trader.code}:{phantom} ({lot.initial_g / 1000:.1f} kg PrNd oxide, as "
            f"its own lot {lot.ref}, smelted as usual) from {trader.code}, which never reports the lot "
            "or a ship of it. Side finding: unmatched_custody (a receive without a ship).",
        )
    ]


def _double_draw(inj: Injector, econ: Economy, evs: list[Ev]) -> Result:
    rng = inj.rng
    ships = [
        ev for ev in evs
        if ev.data["type"] == "ship" and ev.lot is not None and ev.lot.kind == "magnet"
        and ev.lot.mass_g == 0 and ev.grams == ev.lot.initial_g and ev.event_id not in inj.touched
    ]  # fmt: skip
    users = [u for u in econ.of("end_user") if u.code not in econ.quiet]
    if not ships or not users:
        return None
    first = rng.choice(ships)
    lot = first.lot
    assert lot is not None
    to = rng.choice(users)
    ship, recv, _ = econ.rec.ship_receive(lot, first.grams, to, overdraw=True)
    evs.extend([ship, recv])
    inj.touched.update({first.event_id, ship.event_id, recv.event_id})
    return [
        _record(
            "double_draw",
            lot.ent,
            [lot.ref],
            [first.event_id, ship.event_id],
            econ,
            f"{lot.ent} ships the whole of {lot.ref} ({lot.initial_g / 1000:.1f} kg) twice: to "
            f"{first.data['counterparty']} ({first.event_id}) and to {to.code} ({ship.event_id}); both "
            "receive it, so custody matches. Side finding: the holder's period mass balance may show "
            "the extra outflow.",
        )
    ]


def _unmatched_custody(inj: Injector, econ: Economy, evs: list[Ev]) -> Result:
    cands = _fresh_receipts(inj, econ, evs, "end_user")
    if not cands:
        return None
    recv = inj.rng.choice(cands)
    ship = recv.twin
    assert ship is not None and ship.lot is not None
    evs.remove(recv)
    got = recv.born[0]
    del econ.books[got.ent].lots[got.code]
    inj.touched.update({recv.event_id, ship.event_id})
    return [
        _record(
            "unmatched_custody",
            ship.ent,
            [ship.lot.ref],
            [ship.event_id],
            econ,
            f"{ship.ent} ships {ship.grams / 1000:.1f} kg of {ship.lot.ref} to {recv.ent} "
            f"({ship.event_id}); {recv.ent} never reports the receive.",
        )
    ]


def _short_custody(inj: Injector, econ: Economy, evs: list[Ev]) -> Result:
    cands = _fresh_receipts(inj, econ, evs, "end_user")
    if not cands:
        return None
    recv = inj.rng.choice(cands)
    ship = recv.twin
    assert ship is not None and ship.lot is not None
    got = recv.born[0]
    short = int(ship.grams * inj.rng.uniform(0.95, 0.97))
    got.mass_g = got.initial_g = short
    recv.data["inputs"][0]["mass_kg"] = short / 1000.0
    recv.data["outputs"][0]["mass_kg"] = short / 1000.0
    inj.touched.update({recv.event_id, ship.event_id})
    return [
        _record(
            "short_custody",
            recv.ent,
            [ship.lot.ref, got.ref],
            [ship.event_id, recv.event_id],
            econ,
            f"{ship.ent} ships {ship.grams / 1000:.3f} kg of {ship.lot.ref}; {recv.ent} reports "
            f"receiving {short / 1000:.3f} kg ({100 * (1 - short / ship.grams):.1f}% short).",
        )
    ]


def _import_and_deliver(
    econ: Economy, inj: Injector, to: Actor, reo_kg: float, tag: str, evs: list[Ev]
) -> Lot | None:
    """A clean import of monazite and its custody to ``to``: the material of an injection."""
    importers = [i for i in econ.of("importer") if i.source == "monazite"] or econ.of("importer")
    if not importers:
        return None
    imp = inj.rng.choice(importers)
    assert imp.source is not None
    ev = econ.rec.import_(imp, imp.source, tag, reo_kg)
    evs.append(ev)
    lot = ev.born[0]
    ship, recv, got = econ.rec.ship_receive(lot, lot.mass_g, to)
    evs.extend([ship, recv])
    return got


def _unapproved_separator(inj: Injector, econ: Economy, evs: list[Ev]) -> Result:
    rogues = [a for a in econ.ind.actors if a.rogue]
    if not rogues:
        return None
    rogue = inj.rng.choice(rogues)
    got = _import_and_deliver(econ, inj, rogue, inj.rng.uniform(5000.0, 15000.0), "rogue", evs)
    if got is None:
        return None
    run = econ.rec.separate(rogue, [(got, got.mass_g)], frozen=True)
    evs.append(run)
    return [
        _record(
            "unapproved_separator",
            rogue.code,
            [got.ref, *(lot.ref for lot in run.born)],
            [run.event_id],
            econ,
            f"{rogue.code} (not approved, its plant below the 2,000 t minimum) separates imported "
            f"monazite {got.ref} it received through clean import and custody events; the oxides "
            "stay in its stock.",
        )
    ]


def _recycler_concentrate(inj: Injector, econ: Economy, evs: list[Ev]) -> Result:
    recyclers = econ.of("recycler")
    if not recyclers:
        return None
    rc = inj.rng.choice(recyclers)
    got = _import_and_deliver(econ, inj, rc, inj.rng.uniform(2000.0, 5000.0), "recycler", evs)
    if got is None:
        return None
    run = econ.rec.recycle(rc, [(got, got.mass_g)], frozen=True)
    evs.append(run)
    return [
        _record(
            "recycler_concentrate",
            rc.code,
            [got.ref, *(lot.ref for lot in run.born)],
            [run.event_id],
            econ,
            f"recycler {rc.code} runs a recycling process on {got.ref}, monazite concentrate (a mineral "
            "product), received through clean import and custody events.",
        )
    ]


def _overquota_mining(inj: Injector, econ: Economy, evs: list[Ev]) -> Result:
    rng = inj.rng
    group = rng.choice(("CNRE", "CREG"))
    mines = [m for m in econ.of("mine") if m.group == group]
    if not mines:
        return None
    mine = rng.choice(mines)
    assert mine.source is not None
    quota = econ.ind.quota_t(group, "mining") * 1000.0
    before = econ.rec.tally.mined.get(group, 0.0)
    need = quota * (1.0 + QUOTA_EXCESS) - before
    n = min(50, max(1, math.ceil(need / (ORE_LOT_T * 1000.0 * 4))))
    ore_name, ore_pct, *_ = ORES[mine.source]
    made: list[Ev] = []
    for _ in range(n):
        profile = perturb(DEPOSITS[DEPOSIT_PROFILE[mine.source]], rng, 0.05)
        ev = econ.rec.extract(mine, profile, need / n, rng.uniform(*ore_pct), ore_name)
        for lot in ev.born:
            lot.frozen = True  # never beneficiated or shipped: the separation quota is not touched
        made.append(ev)
    evs.extend(made)
    after = econ.rec.tally.mined[group]
    return [
        _record(
            "overquota_mining",
            mine.code,
            [lot.ref for ev in made for lot in ev.born],
            [ev.event_id for ev in made],
            econ,
            f"{group} mining: {before / 1000:.1f} t REO extracted before these {n} extract events, "
            f"{after / 1000:.1f} t after, against a yearly quota of {quota / 1000:.1f} t "
            f"({100 * after / quota:.1f}%). The extra ore stays at the mine.",
        )
    ]


def _overquota_separation(inj: Injector, econ: Economy, evs: list[Ev]) -> Result:
    rng = inj.rng
    group = rng.choice(("CNRE", "CREG"))
    seps = [
        s for s in econ.of("separator")
        if s.group == group and s.region == GROUP_REGION[group] and s.code not in inj.busy
    ]  # fmt: skip
    if not seps:
        return None
    sep = rng.choice(seps)
    inj.busy.add(sep.code)
    quota = econ.ind.quota_t(group, "separation") * 1000.0
    before = econ.rec.tally.separated.get(group, 0.0)
    need = quota * (1.0 + QUOTA_EXCESS) - before
    n = min(50, max(1, math.ceil(need / (IMPORT_LOT_T * 1000.0 * 4))))
    runs: list[Ev] = []
    feeds: list[str] = []
    for _ in range(n):
        got = _import_and_deliver(econ, inj, sep, need / n, "quota", evs)
        if got is None:
            return None
        run = econ.rec.separate(sep, [(got, got.mass_g)], frozen=True)
        evs.append(run)
        runs.append(run)
        feeds.append(got.ref)
    after = econ.rec.tally.separated[group]
    return [
        _record(
            "overquota_separation",
            sep.code,
            feeds,
            [ev.event_id for ev in runs],
            econ,
            f"{group} separation: {before / 1000:.1f} t REO of feed separated before these {n} "
            f"separation events of imported monazite, {after / 1000:.1f} t after, against a yearly "
            f"quota of {quota / 1000:.1f} t ({100 * after / quota:.1f}%). The imports and their "
            "custody are clean; the oxides stay at the separator.",
        )
    ]


def _stock_gain(inj: Injector, econ: Economy, evs: list[Ev]) -> Result:
    rng = inj.rng
    actors = [a for a in econ.of("smelter") + econ.of("trader") if not a.rogue and a.code not in econ.quiet]
    if not actors:
        return None
    actor = rng.choice(actors)
    lot = econ.rec.new_lot(
        actor.code, "ADJ", "praseodymium-neodymium oxide", "oxide", "ox:PrNd",
        element_kg({"Pr": 24.0, "Nd": 76.0}, rng.uniform(200.0, 800.0)), 99.2,
    )  # fmt: skip
    assert lot is not None
    lot.frozen = True
    ev = econ.rec.adjust_gain(actor, lot)
    evs.append(ev)
    return [
        _record(
            "stock_gain",
            actor.code,
            [lot.ref],
            [ev.event_id],
            econ,
            f"{actor.code} reports a stock-take surplus: a new lot {lot.ref} of "
            f"{lot.initial_g / 1000:.1f} kg PrNd oxide out of nowhere; it stays in stock. Side "
            "finding: the enterprise's period mass balance may show the gain.",
        )
    ]


def _impossible_time(inj: Injector, econ: Economy, evs: list[Ev]) -> Result:
    """A receive dated before the sender's lot was created (the receiver's first event that month)."""
    earlier: set[str] = set()
    for ev in evs:
        first = ev.ent not in earlier and econ.seen.get(ev.ent, 0) == 0
        earlier.add(ev.ent)
        lot = ev.lot
        if (
            not first or ev.data["type"] != "receive" or lot is None or ev.event_id in inj.touched
            or econ.ind.by_code[ev.ent].kind != "smelter" or lot.created < econ.start + 4 * HOUR
        ):  # fmt: skip
            continue
        t = lot.created - inj.rng.randint(HOUR, 3 * HOUR)
        ev.t = t
        ev.data["occurred_at"] = iso(t)
        for got in ev.born:
            got.created = t
        inj.touched.add(ev.event_id)
        return [
            _record(
                "impossible_time",
                ev.ent,
                [lot.ref],
                [ev.event_id, lot.born_by],
                econ,
                f"{ev.ent} dates its receive {ev.event_id} of {lot.ref} at {iso(t)}, before "
                f"{lot.born_by} created the lot at {iso(lot.created)} (and before the sender's "
                "ship). The receiver's file stays in time order.",
            )
        ]
    return None


def _yield_inflation(inj: Injector, econ: Economy, evs: list[Ev]) -> Result:
    smelters = [
        s for s in econ.of("smelter") if s.code not in inj.busy and econ.books[s.code].open_lots("ox:PrNd")
    ]
    if not smelters:
        return None
    sm = inj.rng.choice(smelters)
    inj.busy.add(sm.code)
    lot = econ.books[sm.code].open_lots("ox:PrNd")[0]
    drawn = lot.element_reo(lot.mass_g)
    run = econ.rec.smelt(sm, [(lot, lot.mass_g)], alloy=False, recovery=1.05)
    evs.append(run)
    out = run.born[0]
    return [
        _record(
            "yield_inflation",
            sm.code,
            [lot.ref, out.ref],
            [run.event_id],
            econ,
            f"metal smelting {run.event_id} turns {sum(drawn.values()):.1f} kg REO of {lot.ref} into "
            f"{out.ref} holding {_reo(out):.1f} kg REO-equivalent (+5%), every element likewise; the "
            "metal flows on as usual. Side finding: the smelter's period mass balance may leave its "
            "band.",
        )
    ]


def _diversion(inj: Injector, econ: Economy, evs: list[Ev]) -> Result:
    """A separator whose month loses far more than the 4–8 % band: product taken off the books."""
    seps = [
        s for s in econ.of("separator") if s.code not in inj.busy and econ.books[s.code].open_lots("feed:")
    ]
    if not seps:
        return None
    sep = inj.rng.choice(seps)
    inj.busy.add(sep.code)
    recovery = inj.rng.uniform(0.78, 0.84)
    runs: list[Ev] = []
    reo_in = 0.0
    for batch in econ.batches(econ.books[sep.code].open_lots("feed:"), (1, 2), inj.rng):
        reo_in += sum(sum(lot.element_reo(lot.mass_g).values()) for lot in batch)
        runs.append(econ.rec.separate(sep, [(lot, lot.mass_g) for lot in batch], recovery=recovery))
    evs.extend(runs)
    reo_out = sum(_reo(lot) for ev in runs for lot in ev.born)
    return [
        _record(
            "diversion",
            sep.code,
            [line["lot"] for ev in runs for line in ev.data["inputs"]],
            [ev.event_id for ev in runs],
            econ,
            f"every separation of {sep.code} this month recovers only {100 * recovery:.1f}% "
            f"({reo_in:.0f} kg REO in, {reo_out:.0f} kg out: a loss of {100 * (1 - reo_out / reo_in):.1f}%, "
            "above the 4–8% band); no event's output exceeds its input.",
        )
    ]


HOOKS: dict[str, tuple[str, str, Hook]] = {
    "laundering": ("separation", "before", _laundering),
    "unexplained_purchase": ("oxide_custody", "after", _unexplained_purchase),
    "overquota_mining": ("mining", "after", _overquota_mining),
    "overquota_separation": ("separation", "after", _overquota_separation),
    "double_draw": ("product_custody", "after", _double_draw),
    "unmatched_custody": ("product_custody", "after", _unmatched_custody),
    "short_custody": ("product_custody", "after", _short_custody),
    "unapproved_separator": ("separation", "before", _unapproved_separator),
    "recycler_concentrate": ("final", "before", _recycler_concentrate),
    "stock_gain": ("final", "after", _stock_gain),
    "impossible_time": ("oxide_custody", "stamped", _impossible_time),
    "yield_inflation": ("smelting", "before", _yield_inflation),
    "diversion": ("separation", "before", _diversion),
}
