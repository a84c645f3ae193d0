"""The monthly chain: mine and import → separate → smelt → make magnets → consume, export, recycle.

One month runs as the phases of :data:`reetrace.generate.timeline.PHASES`. Each phase looks at the open
stock, decides what moves (with the flow's random generator), builds the events, and gives them times
inside its window; injections hook in before, after, or once the times are set. Lot sizes do not depend
on the scale, so the number of events grows linearly with it while lots stay realistic.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

from reetrace.generate.events import Recorder
from reetrace.generate.industry import DEPOSIT_PROFILE, Actor, Industry, Kind
from reetrace.generate.lots import Ev, Lot
from reetrace.generate.profiles import DEPOSITS, perturb
from reetrace.generate.timeline import DAY, HOUR, PHASES, month_bounds, period, stamp
from reetrace.generate.writer import SubmissionWriter

if TYPE_CHECKING:
    from reetrace.generate.inject import Injector

#: Lot sizes, t REO (origins) or kg gross (shipments): realistic batches, independent of the scale.
ORE_LOT_T = 25.0
IMPORT_LOT_T = 30.0
OXIDE_SHIP_KG = 20_000.0
METAL_SHIP_KG = 5_000.0
MAGNET_SHIP_KG = 10_000.0
MAGNET_BATCH_KG = 3_000.0
#: Smaller than this (grams), a lot moves or is processed whole rather than in parts.
SPLIT_MIN_G = 50_000
#: Share of the month's concentrate a mine keeps for next month (stock carried across periods).
MINE_HOLDBACK = 0.08

#: deposit -> (ore product, ore % REO, concentrate product, its form, concentrate % REO)
ORES: dict[str, tuple[str, tuple[float, float], str, str, tuple[float, float]]] = {
    "bayan_obo": ("Bayan Obo iron-rare earth ore", (5.0, 7.0),
                  "rare earth concentrate", "concentrate", (48.0, 56.0)),
    "mianning": ("bastnaesite ore", (3.0, 5.0), "bastnaesite concentrate", "concentrate", (50.0, 60.0)),
    "weishan": ("bastnaesite ore", (3.0, 5.0), "bastnaesite concentrate", "concentrate", (50.0, 60.0)),
    "longnan": ("ion-adsorption clay ore", (0.08, 0.15),
                "mixed rare earth oxide", "mixed_compound", (88.0, 92.0)),
    "xunwu": ("ion-adsorption clay ore", (0.08, 0.15),
              "mixed rare earth oxide", "mixed_compound", (88.0, 92.0)),
}  # fmt: skip

Route = tuple[tuple[Kind, float], ...]
#: Where a separator sends each separated product.
SEPARATOR_ROUTES: dict[str, Route] = {
    "PrNd": (("smelter", 0.8), ("trader", 0.1), ("exporter", 0.1)),
    "Dy": (("smelter", 1.0),),
    "Tb": (("end_user", 0.6), ("exporter", 0.4)),
    "La": (("trader", 0.4), ("end_user", 0.4), ("exporter", 0.2)),
    "Ce": (("trader", 0.4), ("end_user", 0.4), ("exporter", 0.2)),
}
OTHER_OXIDES: Route = (("end_user", 0.6), ("exporter", 0.4))
TRADER_ROUTES: dict[str, Route] = {"PrNd": (("smelter", 0.8), ("exporter", 0.2))}
TRADED_OTHERS: Route = (("end_user", 0.7), ("exporter", 0.3))

MAGNET_MARKETS = (("DE", 0.25), ("US", 0.2), ("KR", 0.15), ("JP", 0.1), ("VN", 0.1), ("IT", 0.1),
                  ("MX", 0.1))  # fmt: skip
OXIDE_MARKETS = (("JP", 0.35), ("US", 0.2), ("KR", 0.15), ("NL", 0.15), ("VN", 0.15))


def hs_code(lot: Lot) -> str:
    if lot.form == "magnet":
        return "8505.11"
    if lot.form in ("metal", "alloy"):
        return "2805.30"
    if lot.kind == "ox:Ce":
        return "2846.10"
    return "2846.90"


class Economy:
    """Runs the months: owns the stock (through the recorder) and writes every event."""

    def __init__(
        self, industry: Industry, rng: random.Random, writer: SubmissionWriter, injector: Injector
    ) -> None:
        self.ind = industry
        self.rng = rng
        self.rec = Recorder(industry, rng)
        self.books = self.rec.books
        self.writer = writer
        self.inj = injector
        self.kinds: dict[str, list[Actor]] = {}
        for a in industry.actors:
            self.kinds.setdefault(a.kind, []).append(a)
        self.quiet: set[str] = set()
        #: events written so far this month, per enterprise
        self.seen: dict[str, int] = {}
        self.month = 0
        self.period = ""
        self.start = self.end = 0
        self._phases: dict[str, Callable[[list[Ev]], None]] = {
            "mining": self._mining,
            "feed_custody": self._feed_custody,
            "separation": self._separation,
            "oxide_custody": self._oxide_custody,
            "smelting": self._smelting,
            "metal_custody": self._metal_custody,
            "magnet_making": self._magnet_making,
            "product_custody": self._product_custody,
            "final": self._final,
        }

    def of(self, kind: Kind) -> list[Actor]:
        return self.kinds.get(kind, [])

    # -- one month --------------------------------------------------------------------------------

    def run_month(self, month: int) -> None:
        year = self.ind.year
        self.month, self.period = month, period(year, month)
        self.start, self.end = month_bounds(year, month)
        self.rec.begin_month(year, month)
        self.quiet = self.inj.quiet(month)
        self.seen = {}
        self.writer.open_month(self.period)
        for name, d0, d1 in PHASES:
            evs: list[Ev] = []
            self.inj.hook(name, "before", self, evs)
            self._phases[name](evs)
            self.inj.hook(name, "after", self, evs)
            lo = self.start + int(d0 * DAY)
            hi = self.end - HOUR if name == PHASES[-1][0] else self.start + int(d1 * DAY)
            stamp(evs, lo, hi, self.rng)
            self.inj.hook(name, "stamped", self, evs)
            for ev in evs:
                self.writer.write(ev.data)
                self.seen[ev.ent] = self.seen.get(ev.ent, 0) + 1

    # -- routing ----------------------------------------------------------------------------------

    def pick(self, kind: Kind, *, group: str | None = None, region: str | None = None) -> Actor | None:
        """A receiver of ``kind`` by weight (same group preferred); never a quiet enterprise."""
        cands = [
            a for a in self.of(kind)
            if a.code not in self.quiet and (region is None or a.region == region)
        ]  # fmt: skip
        if not cands:
            return None
        weights = [a.weight * (3.0 if group and a.group == group else 1.0) for a in cands]
        return self.rng.choices(cands, weights=weights)[0]

    def route(self, routes: Route, group: str | None) -> Actor | None:
        kind = self.rng.choices([r[0] for r in routes], weights=[r[1] for r in routes])[0]
        return self.pick(kind, group=group) or self.pick("end_user")

    def ship(self, evs: list[Ev], lot: Lot, grams: int, to: Actor) -> Lot:
        ship, recv, got = self.rec.ship_receive(lot, grams, to)
        evs.append(ship)
        evs.append(recv)
        return got

    def ship_in_parts(self, evs: list[Ev], lot: Lot, max_kg: float, dest: Callable[[], Actor | None]) -> None:
        """Ship the whole lot in loads of at most ``max_kg``, each to its own receiver."""
        n = max(1, math.ceil(lot.mass_g / (max_kg * 1000.0)))
        for i in range(n):
            to = dest()
            if to is None:
                return
            grams = lot.mass_g if i == n - 1 else lot.mass_g // (n - i)
            if grams > 0:
                self.ship(evs, lot, grams, to)

    @staticmethod
    def batches(lots: Sequence[Lot], sizes: Sequence[int], rng: random.Random) -> list[list[Lot]]:
        """Consecutive runs of ``lots``, each of a size drawn from ``sizes``.

        A run lighter than :data:`SPLIT_MIN_G` joins a neighbour: left alone, the kilogram remnants
        of recycling would go round the chain again and again, shrinking to grams.
        """
        out: list[list[Lot]] = []
        i = 0
        while i < len(lots):
            k = rng.choice(sizes)
            run = list(lots[i : i + k])
            i += k
            if out and sum(lot.mass_g for lot in run) < SPLIT_MIN_G:
                out[-1].extend(run)
            else:
                out.append(run)
        if len(out) > 1 and sum(lot.mass_g for lot in out[0]) < SPLIT_MIN_G:
            first = out.pop(0)
            out[0][:0] = first
        return out

    # -- phases -----------------------------------------------------------------------------------

    def _mining(self, evs: list[Ev]) -> None:
        rng = self.rng
        for mine in self.of("mine"):
            assert mine.source is not None
            ore_name, ore_pct, con_name, con_form, con_pct = ORES[mine.source]
            target = sum(mine.plan.values()) / 12.0 * rng.uniform(0.9, 1.1) * 1000.0
            n = max(1, round(target / (ORE_LOT_T * 1000.0)))
            weights = [rng.uniform(0.8, 1.2) for _ in range(n)]
            ores: list[Lot] = []
            for w in weights:
                profile = perturb(DEPOSITS[DEPOSIT_PROFILE[mine.source]], rng, 0.05)
                ev = self.rec.extract(
                    mine, profile, target * w / sum(weights), rng.uniform(*ore_pct), ore_name
                )
                evs.append(ev)
                ores.extend(ev.born)
            region = mine.region
            for batch in self.batches(ores, (1, 2, 3), rng):
                evs.append(
                    self.rec.beneficiate(
                        mine,
                        [(lot, lot.mass_g) for lot in batch],
                        rng.uniform(*con_pct),
                        con_name,
                        con_form,
                        f"feed:{region}",
                    )
                )
        for imp in self.of("importer"):
            assert imp.source is not None
            for region, tonnes in imp.plan.items():
                target = tonnes / 12.0 * rng.uniform(0.85, 1.15) * 1000.0
                n = max(1, round(target / (IMPORT_LOT_T * 1000.0)))
                for _ in range(n):
                    evs.append(self.rec.import_(imp, imp.source, region, target / n))

    def _feed_custody(self, evs: list[Ev]) -> None:
        rng = self.rng
        for actor in self.of("mine") + self.of("importer"):
            for lot in self.books[actor.code].open_lots("feed:"):
                fresh = lot.created >= self.start
                if actor.kind == "mine" and fresh and rng.random() < MINE_HOLDBACK:
                    continue  # kept at the mine; shipped next month
                region = lot.kind.split(":", 1)[1]
                seps = [self.pick("separator", region=region)]
                if rng.random() < 0.15:
                    seps.append(self.pick("separator", region=region))
                for i, sep in enumerate(seps):
                    if sep is None:
                        continue
                    last = i == len(seps) - 1
                    grams = lot.mass_g if last else int(lot.mass_g * rng.uniform(0.4, 0.6))
                    if grams > 0:
                        self.ship(evs, lot, grams, sep)

    def _separation(self, evs: list[Ev]) -> None:
        rng = self.rng
        for sep in self.of("separator"):
            feed = self.books[sep.code].open_lots("feed:")
            batches = self.batches(feed, (1, 1, 2, 2, 3), rng)
            for i, batch in enumerate(batches):
                draws = [(lot, lot.mass_g) for lot in batch]
                if i == len(batches) - 1 and rng.random() < 0.3:
                    lot = batch[-1]
                    draws[-1] = (lot, max(1, int(lot.mass_g * rng.uniform(0.5, 0.8))))
                evs.append(self.rec.separate(sep, draws))

    def _oxide_custody(self, evs: list[Ev]) -> None:
        for sep in self.of("separator"):
            for lot in self.books[sep.code].open_lots("ox:"):
                routes = SEPARATOR_ROUTES.get(lot.kind[3:], OTHER_OXIDES)
                self.ship_in_parts(evs, lot, OXIDE_SHIP_KG, partial(self.route, routes, sep.group))
        for rc in self.of("recycler"):
            for lot in self.books[rc.code].open_lots("rox:"):
                to = self.pick("smelter")
                if to is not None:
                    self.ship(evs, lot, lot.mass_g, to)
        for trader in self.of("trader"):
            if trader.code in self.quiet:
                continue
            for lot in self.books[trader.code].open_lots("ox:"):
                to = self.route(TRADER_ROUTES.get(lot.kind[3:], TRADED_OTHERS), None)
                if to is not None:
                    self.ship(evs, lot, lot.mass_g, to)

    def _smelting(self, evs: list[Ev]) -> None:
        rng = self.rng
        for sm in self.of("smelter"):
            book = self.books[sm.code]
            prnd = book.open_lots("ox:PrNd") + book.open_lots("rox:PrNd")
            for batch in self.batches(prnd, (1, 1, 2), rng):
                evs.append(self.rec.smelt(sm, [(lot, lot.mass_g) for lot in batch], alloy=False))
            dy = book.open_lots("ox:Dy") + book.open_lots("rox:Dy")
            for batch in self.batches(dy, (10,), rng):
                evs.append(self.rec.smelt(sm, [(lot, lot.mass_g) for lot in batch], alloy=True))

    def _metal_custody(self, evs: list[Ev]) -> None:
        rng = self.rng
        for sm in self.of("smelter"):
            for lot in self.books[sm.code].open_lots("metal:"):

                def dest() -> Actor | None:
                    if rng.random() < 0.07:
                        return self.pick("exporter")
                    return self.pick("magnet")

                self.ship_in_parts(evs, lot, METAL_SHIP_KG, dest)
        # Dy-Fe follows the PrNd metal each magnet maker holds, so their magnets get a steady Dy share.
        makers = [m for m in self.of("magnet") if m.code not in self.quiet]
        held = [sum(x.mass_g for x in self.books[m.code].open_lots("metal:")) for m in makers]
        if not makers:
            return
        if sum(held) <= 0:
            held = [1] * len(makers)
        for sm in self.of("smelter"):
            for lot in self.books[sm.code].open_lots("alloy:"):
                if lot.mass_g < SPLIT_MIN_G:
                    to = self.rng.choices(makers, weights=held)[0]
                    self.ship(evs, lot, lot.mass_g, to)
                    continue
                total = lot.mass_g
                for maker, h in zip(makers, held, strict=True):
                    grams = min(lot.mass_g, math.ceil(total * h / sum(held)))
                    if grams > 0:
                        self.ship(evs, lot, grams, maker)

    def _magnet_making(self, evs: list[Ev]) -> None:
        rng = self.rng
        for mk in self.of("magnet"):
            book = self.books[mk.code]
            prnd, dyfe = book.open_lots("metal:"), book.open_lots("alloy:")
            metal_g = sum(x.mass_g * x.pct / 100.0 for x in prnd)
            dy_g = sum(x.mass_g * x.pct / 100.0 for x in dyfe)
            if metal_g <= 0 or dy_g <= 0:
                continue  # no Dy on hand: the metal waits for next month's alloy

            # Dy metal per kg of other RE metal for a magnet with ``t`` wt% Dy at ~31 % RE.
            def dy_per_metal(t: float) -> float:
                f = t / 31.0
                return f / (1.0 - f)

            if dy_g < metal_g * dy_per_metal(0.6):
                ratio = dy_per_metal(0.6)
                metal_g = dy_g / ratio
            else:
                # Use the Dy on hand (up to 1.15 wt%) rather than let alloy pile up in stock.
                ratio = min(dy_per_metal(1.15), dy_g / metal_g * rng.uniform(0.95, 1.0))
            budget = metal_g
            for lot in prnd:
                while lot.mass_g > 0:
                    gross = min(lot.mass_g, int(MAGNET_BATCH_KG * 1000), int(budget / (lot.pct / 100.0)))
                    if gross < SPLIT_MIN_G and gross < lot.mass_g:
                        break
                    if lot.mass_g - gross < SPLIT_MIN_G:
                        gross = lot.mass_g  # no crumbs left behind (the Dy target is approximate)
                    re_g = gross * lot.pct / 100.0
                    budget -= re_g
                    draws: list[tuple[Lot, int]] = [(lot, gross)]
                    # Metal blended from recycled oxide already carries some Dy.
                    carried = re_g * (lot.shares or {}).get("Dy", 0.0) / 100.0
                    want = re_g * ratio - carried
                    for alloy in dyfe:
                        if want <= 0:
                            break
                        if alloy.mass_g <= 0:
                            continue
                        g = min(alloy.mass_g, math.ceil(want / (alloy.pct / 100.0)))
                        draws.append((alloy, g))
                        want -= g * alloy.pct / 100.0
                    evs.append(self.rec.make_magnets(mk, draws))

    def _product_custody(self, evs: list[Ev]) -> None:
        rng = self.rng
        for mk in self.of("magnet"):
            book = self.books[mk.code]
            for lot in book.open_lots("magnet"):

                def dest() -> Actor | None:
                    if rng.random() < 0.3:
                        return self.pick("exporter")
                    return self.pick("end_user")

                self.ship_in_parts(evs, lot, MAGNET_SHIP_KG, dest)
            for lot in book.open_lots("scrap"):
                to = self.pick("recycler")
                if to is not None:
                    self.ship(evs, lot, lot.mass_g, to)

    def _final(self, evs: list[Ev]) -> None:
        rng = self.rng
        for rc in self.of("recycler"):
            scrap = self.books[rc.code].open_lots("scrap")
            for batch in self.batches(scrap, (1, 2, 3), rng):
                evs.append(self.rec.recycle(rc, [(lot, lot.mass_g) for lot in batch]))
        for eu in self.of("end_user"):
            if eu.code in self.quiet:
                continue
            lots = self.books[eu.code].open_lots("")
            for batch in self.batches(lots, (1, 2, 3, 5), rng):
                evs.append(self.rec.consume(eu, [(lot, lot.mass_g) for lot in batch]))
        for ex in self.of("exporter"):
            if ex.code in self.quiet:
                continue
            by_hs: dict[str, list[Lot]] = {}
            for lot in self.books[ex.code].open_lots(""):
                by_hs.setdefault(hs_code(lot), []).append(lot)
            for hs, lots in by_hs.items():
                markets = MAGNET_MARKETS if hs == "8505.11" else OXIDE_MARKETS
                for batch in self.batches(lots, (1, 2, 3), rng):
                    country = rng.choices([m[0] for m in markets], weights=[m[1] for m in markets])[0]
                    evs.append(self.rec.export(ex, [(lot, lot.mass_g) for lot in batch], country, hs))
