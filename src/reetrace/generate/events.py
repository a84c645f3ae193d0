"""Building events: each method is one step of the chain, drawing from stock and creating new lots.

Output content is always derived from what was drawn (element REO kg), times a recovery below 1, so
every element balances at every process event by construction. Recoveries sit inside the process-loss
bands the audit uses (separation 4–8 % loss, metal 3–5 %) with margin.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from reetrace.elements import ELEMENTS
from reetrace.generate.industry import IMPORTS, Actor, Industry
from reetrace.generate.lots import Book, Ev, Lot
from reetrace.generate.profiles import (
    DEPOSITS,
    RECYCLED,
    SEPARATED,
    ElementKg,
    blend,
    element_kg,
    metal_kg,
    perturb,
    scaled,
    split_products,
)

#: REO recovery of each process (fraction of input REO that reaches the outputs).
RECOVERY: dict[str, tuple[float, float]] = {
    "beneficiation": (0.85, 0.90),
    "separation": (0.935, 0.955),
    "metal_smelting": (0.961, 0.968),
    "magnet_making": (0.985, 0.995),
    "recycling": (0.93, 0.95),
}
#: A separated product under this many kg REO joins the main product of the batch.
MIN_PRODUCT_KG = 5.0


@dataclass
class Tally:
    """Quota-relevant totals, kg REO per group, as the store will count them."""

    mined: dict[str, float] = field(default_factory=dict)
    separated: dict[str, float] = field(default_factory=dict)


class Recorder:
    """Turns chain steps into events; owns the books (open stock) of every enterprise."""

    def __init__(self, industry: Industry, rng: random.Random) -> None:
        self.ind = industry
        self.rng = rng
        self.books: dict[str, Book] = {a.code: Book(a.code) for a in industry.actors}
        self.tally = Tally()
        self.yymm = ""
        self._doc_seq = 0

    def begin_month(self, year: int, month: int) -> None:
        self.yymm = f"{year % 100:02d}{month:02d}"

    # -- plumbing ---------------------------------------------------------------------------------

    def _event(self, actor: Actor, type_: str, site: str, **extra: Any) -> dict[str, Any]:
        book = self.books[actor.code]
        book.event_seq += 1
        data: dict[str, Any] = {
            "event_id": f"{actor.code}-{self.yymm}-{book.event_seq:06d}",
            "type": type_,
            "enterprise": actor.code,
            "site": actor.sites[site],
            "occurred_at": "",
        }
        data.update(extra)
        return data

    def doc(self, prefix: str) -> str:
        self._doc_seq += 1
        return f"{prefix}{self.yymm}{self._doc_seq:08d}"

    def new_lot(
        self,
        ent: str,
        prefix: str,
        product: str,
        form: str,
        kind: str,
        el_reo: ElementKg,
        pct: float,
        *,
        metal: bool = False,
        declare: bool = True,
    ) -> Lot | None:
        """A new lot holding ``el_reo`` (element REO kg); None if it would weigh nothing."""
        basis = metal_kg(el_reo) if metal else el_reo
        total = sum(basis.values())
        pct = float(f"{pct:.4g}")  # as written: the gross mass must follow from the written grade
        grams = int(total / (pct / 100.0) * 1000.0)  # floor: never more than what came in
        if grams <= 0 or total <= 0:
            return None
        # Nine significant digits: a trace element's share stays exact enough that rounding never
        # lifts it above what came in (a fixed number of decimals would, for shares like 0.0001 %).
        shares = {el: float(f"{basis[el] / total * 100.0:.9g}") for el in ELEMENTS if basis.get(el, 0.0) > 0}
        shares = {el: v for el, v in shares.items() if v > 0}
        book = self.books[ent]
        book.lot_seq += 1
        lot = Lot(
            ent=ent, code=f"{prefix}-{self.yymm}-{book.lot_seq:06d}", product=product, form=form,
            kind=kind, mass_g=grams, metal=metal, pct=pct,
            shares=shares if declare else None, hidden=None if declare else shares,
        )  # fmt: skip
        book.lots[lot.code] = lot
        return lot

    def draw(self, lot: Lot, grams: int, *, overdraw: bool = False) -> dict[str, Any]:
        """An input line drawing ``grams`` of ``lot`` (``overdraw``: without taking it from stock)."""
        if not overdraw:
            assert 0 < grams <= lot.mass_g, f"{lot.ref}: drawing {grams} g of {lot.mass_g} g"
            lot.mass_g -= grams
            if lot.mass_g == 0:
                del self.books[lot.ent].lots[lot.code]
        return {"lot": lot.ref, "mass_kg": grams / 1000.0}

    def _draw_all(self, draws: list[tuple[Lot, int]]) -> tuple[list[dict[str, Any]], ElementKg]:
        """Input lines for ``draws`` and the element REO they carry together."""
        lines = [self.draw(lot, grams) for lot, grams in draws]
        return lines, blend(lot.element_reo(grams) for lot, grams in draws)

    def _recover(self, el: ElementKg, process: str) -> ElementKg:
        lo, hi = RECOVERY[process]
        r = self.rng.uniform(lo, hi)
        # A little spread per element, kept inside the band: real circuits do not recover all alike.
        return {k: v * min(hi, max(lo, r + self.rng.uniform(-0.002, 0.002))) for k, v in el.items()}

    # -- origins ----------------------------------------------------------------------------------

    def extract(self, mine: Actor, profile: dict[str, float], reo_kg: float, pct: float, product: str) -> Ev:
        lot = self.new_lot(mine.code, "ORE", product, "ore", "ore", element_kg(profile, reo_kg), pct)
        assert lot is not None
        data = self._event(mine, "extract", "mine", outputs=[lot.output_line()])
        if mine.group:
            reo = sum(lot.element_reo(lot.mass_g).values())
            self.tally.mined[mine.group] = self.tally.mined.get(mine.group, 0.0) + reo
        return Ev(mine.code, data, [lot])

    def import_(self, importer: Actor, source: str, region: str, reo_kg: float) -> Ev:
        src = IMPORTS[source]
        countries = src.countries
        country, deposit, _ = self.rng.choices(countries, weights=[c[2] for c in countries])[0]
        profile = perturb(DEPOSITS[deposit], self.rng, 0.05)
        pct = self.rng.uniform(*src.reo_pct)
        lot = self.new_lot(
            importer.code, "IMP", src.product, src.form, f"feed:{region}",
            element_kg(profile, reo_kg), pct,
        )  # fmt: skip
        assert lot is not None
        entry = self.doc("CE")
        data = self._event(
            importer, "import", "port",
            origin={"customs_entry": entry, "country": country, "hs_code": src.hs_code},
            outputs=[lot.output_line()],
            documents={"customs_entry": entry, "invoice": self.doc("INV")},
        )  # fmt: skip
        return Ev(importer.code, data, [lot])

    # -- custody ----------------------------------------------------------------------------------

    def ship_receive(self, lot: Lot, grams: int, to: Actor, *, overdraw: bool = False) -> tuple[Ev, Ev, Lot]:
        """A ship by the holder and its matching receive by ``to``: same lot, mass and documents."""
        sender = self.ind.by_code[lot.ent]
        line = self.draw(lot, grams, overdraw=overdraw)
        docs = {"waybill": self.doc("WB"), "invoice": self.doc("INV")}
        ship = Ev(
            sender.code,
            self._event(sender, "ship", "store", counterparty=to.code, inputs=[line], documents=docs),
            lot=lot, grams=grams,
        )  # fmt: skip
        book = self.books[to.code]
        book.lot_seq += 1
        got = Lot(
            ent=to.code, code=f"R-{self.yymm}-{book.lot_seq:06d}", product=lot.product, form=lot.form,
            kind=lot.kind, mass_g=grams, metal=lot.metal, pct=lot.pct, shares=lot.shares,
            hidden=lot.hidden,
        )  # fmt: skip
        book.lots[got.code] = got
        recv = Ev(
            to.code,
            self._event(
                to, "receive", "store", counterparty=sender.code, inputs=[dict(line)],
                outputs=[got.output_line()], documents=dict(docs),
            ),
            [got], lot=lot, grams=grams, twin=ship,
        )  # fmt: skip
        return ship, recv, got

    def receive_unshipped(self, to: Actor, sender: Actor, phantom: str, lot: Lot) -> Ev:
        """A receive of ``sender``'s lot ``phantom`` that the sender never created nor shipped."""
        data = self._event(
            to, "receive", "store", counterparty=sender.code,
            inputs=[{"lot": f"{sender.code}:{phantom}", "mass_kg": lot.initial_g / 1000.0}],
            outputs=[lot.output_line()],
            documents={"waybill": self.doc("WB"), "invoice": self.doc("INV")},
        )  # fmt: skip
        return Ev(to.code, data, [lot])

    # -- transformations --------------------------------------------------------------------------

    def _process(
        self, actor: Actor, site: str, process: str, lines: list[dict[str, Any]], outs: list[Lot]
    ) -> Ev:
        assert outs, f"{actor.code}: a {process} with no output (inputs too small to matter)"
        data = self._event(
            actor, "process", site, process=process, inputs=lines,
            outputs=[lot.output_line() for lot in outs],
        )  # fmt: skip
        return Ev(actor.code, data, outs)

    def beneficiate(
        self, mine: Actor, draws: list[tuple[Lot, int]], pct: float, product: str, form: str, kind: str
    ) -> Ev:
        lines, feed = self._draw_all(draws)
        lot = self.new_lot(mine.code, "CON", product, form, kind, self._recover(feed, "beneficiation"), pct)
        assert lot is not None
        return self._process(mine, "conc", "beneficiation", lines, [lot])

    def separate(
        self,
        actor: Actor,
        draws: list[tuple[Lot, int]],
        *,
        frozen: bool = False,
        recovery: float | None = None,
    ) -> Ev:
        """Solvent extraction into single oxides; ``recovery`` overrides the normal band."""
        lines, feed = self._draw_all(draws)
        if actor.group:
            reo = sum(feed.values())
            self.tally.separated[actor.group] = self.tally.separated.get(actor.group, 0.0) + reo
        out = self._recover(feed, "separation") if recovery is None else scaled(feed, recovery)
        lots: list[Lot] = []
        for key, product, part in split_products(out, SEPARATED, MIN_PRODUCT_KG):
            lot = self.new_lot(
                actor.code, "OX", product, "oxide", f"ox:{key}", part, self.rng.uniform(99.0, 99.6)
            )
            if lot is not None:
                lot.frozen = frozen
                lots.append(lot)
        return self._process(actor, "plant", "separation", lines, lots)

    def smelt(
        self,
        actor: Actor,
        draws: list[tuple[Lot, int]],
        *,
        alloy: bool,
        recovery: float | None = None,
    ) -> Ev:
        """PrNd oxide -> PrNd metal, or Dy(Tb) oxide -> Dy-Fe alloy, by molten-salt electrolysis."""
        lines, feed = self._draw_all(draws)
        out = self._recover(feed, "metal_smelting") if recovery is None else scaled(feed, recovery)
        if alloy:
            lot = self.new_lot(
                actor.code, "ALY", "dysprosium-iron alloy", "alloy", "alloy:DyFe", out,
                self.rng.uniform(78.0, 82.0), metal=True,
            )  # fmt: skip
        else:
            lot = self.new_lot(
                actor.code, "MET", "praseodymium-neodymium metal", "metal", "metal:PrNd", out,
                self.rng.uniform(99.0, 99.6), metal=True,
            )  # fmt: skip
        assert lot is not None
        return self._process(actor, "plant", "metal_smelting", lines, [lot])

    def make_magnets(self, actor: Actor, draws: list[tuple[Lot, int]]) -> Ev:
        """Sintered NdFeB (~31 % RE metal) and its machining scrap (25–30 % of the magnet mass)."""
        lines, feed = self._draw_all(draws)
        out = self._recover(feed, "magnet_making")
        scrap_ratio = self.rng.uniform(0.25, 0.30)
        pct = self.rng.uniform(30.5, 31.5)
        magnet = scaled(out, 1.0 / (1.0 + scrap_ratio))
        n = self.rng.choice((1, 2, 2, 3))
        weights = [self.rng.uniform(0.5, 1.5) for _ in range(n)]
        lots: list[Lot] = []
        for w in weights:
            lot = self.new_lot(
                actor.code, "MAG", "sintered NdFeB magnet", "magnet", "magnet",
                scaled(magnet, w / sum(weights)), pct, metal=True,
            )  # fmt: skip
            if lot is not None:
                lots.append(lot)
        scrap = self.new_lot(
            actor.code, "SCR", "NdFeB magnet scrap", "scrap", "scrap",
            scaled(out, scrap_ratio / (1.0 + scrap_ratio)), pct, metal=True,
        )  # fmt: skip
        if scrap is not None:
            lots.append(scrap)
        return self._process(actor, "plant", "magnet_making", lines, lots)

    def recycle(self, actor: Actor, draws: list[tuple[Lot, int]], *, frozen: bool = False) -> Ev:
        lines, feed = self._draw_all(draws)
        out = self._recover(feed, "recycling")
        lots: list[Lot] = []
        for key, product, part in split_products(out, RECYCLED, MIN_PRODUCT_KG):
            lot = self.new_lot(
                actor.code, "ROX", product, "oxide", f"rox:{key}", part, self.rng.uniform(98.5, 99.5)
            )
            if lot is not None:
                lot.frozen = frozen
                lots.append(lot)
        return self._process(actor, "plant", "recycling", lines, lots)

    # -- leaving the chain ------------------------------------------------------------------------

    def consume(self, actor: Actor, draws: list[tuple[Lot, int]]) -> Ev:
        lines = [self.draw(lot, grams) for lot, grams in draws]
        return Ev(actor.code, self._event(actor, "consume", "plant", inputs=lines))

    def export(self, actor: Actor, draws: list[tuple[Lot, int]], country: str, hs_code: str) -> Ev:
        lines = [self.draw(lot, grams) for lot, grams in draws]
        entry = self.doc("EX")
        data = self._event(
            actor, "export", "port", destination={"country": country, "customs_entry": entry},
            inputs=lines, documents={"customs_entry": entry, "hs_code": hs_code, "invoice": self.doc("INV")},
        )  # fmt: skip
        return Ev(actor.code, data)

    def adjust_gain(self, actor: Actor, lot: Lot) -> Ev:
        data = self._event(actor, "adjust", "store", reason="stock-take surplus", outputs=[lot.output_line()])
        return Ev(actor.code, data, [lot])
