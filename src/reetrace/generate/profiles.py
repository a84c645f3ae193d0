"""Element profiles of deposits and products (docs/contract/reference-facts.md), and
the arithmetic of blending them.

Profiles are percent of REO by element (oxide basis). Everything the generator moves along the chain is
carried as *element REO kg* (``{element: kg}``), the unit the store balances in, so blends are sums and
recoveries are products; only when a lot line is written is that turned back into a gross mass, a
``reo_pct``/``re_metal_pct`` and shares.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping

from reetrace.elements import METAL_PER_OXIDE, normalise_profile

ElementKg = dict[str, float]

#: How the "Ho–Lu" column of docs/contract/reference-facts.md is spread over its five elements
#: (typical ionic-clay ratios).
_HO_LU = {"Ho": 0.17, "Er": 0.45, "Tm": 0.07, "Yb": 0.26, "Lu": 0.05}


def _deposit(table: Mapping[str, float], ho_lu: float) -> dict[str, float]:
    profile = dict(table)
    for el, part in _HO_LU.items():
        profile[el] = ho_lu * part
    return normalise_profile(profile)


#: Deposit profiles of docs/contract/reference-facts.md, normalised to 100. Sichuan/Shandong
#: bastnaesite has no column of its own: Mountain Pass bastnaesite is the closest published profile,
#: and monazite imports use Mount Weld (a monazite deposit) for the same reason.
# fmt: off
DEPOSITS: dict[str, dict[str, float]] = {
    "bayan_obo": _deposit(
        {"La": 23.0, "Ce": 50.0, "Pr": 6.2, "Nd": 18.5, "Sm": 0.8, "Eu": 0.2, "Gd": 0.7,
         "Tb": 0.1, "Dy": 0.1}, 0.0),
    "mountain_pass": _deposit(
        {"La": 33.8, "Ce": 49.6, "Pr": 4.1, "Nd": 11.2, "Sm": 0.9, "Eu": 0.1, "Gd": 0.2,
         "Y": 0.1}, 0.0),
    "mount_weld": _deposit(
        {"La": 25.5, "Ce": 46.7, "Pr": 5.3, "Nd": 18.5, "Sm": 2.3, "Eu": 0.4, "Gd": 1.0,
         "Tb": 0.1, "Dy": 0.1, "Y": 0.1}, 0.0),
    "longnan": _deposit(
        {"La": 1.8, "Ce": 0.4, "Pr": 0.7, "Nd": 3.0, "Sm": 2.8, "Eu": 0.1, "Gd": 6.9,
         "Tb": 1.3, "Dy": 6.7, "Y": 65.0}, 10.1),
    "xunwu": _deposit(
        {"La": 43.4, "Ce": 2.4, "Pr": 9.0, "Nd": 31.7, "Sm": 3.9, "Eu": 0.5, "Gd": 3.0,
         "Y": 8.0}, 0.4),
    "myanmar": _deposit(
        {"La": 22.0, "Ce": 4.0, "Pr": 5.0, "Nd": 19.0, "Sm": 4.0, "Eu": 0.8, "Gd": 5.0,
         "Tb": 0.9, "Dy": 5.5, "Y": 26.7}, 7.1),
}
# fmt: on

#: Separated products of a solvent-extraction line: (routing key, product name, elements). Every
#: element of the feed lands in exactly one product, so no element silently vanishes from a balance.
SEPARATED: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("La", "lanthanum oxide", ("La",)),
    ("Ce", "cerium oxide", ("Ce",)),
    ("PrNd", "praseodymium-neodymium oxide", ("Pr", "Nd", "Pm")),
    ("SEG", "samarium-europium-gadolinium oxide", ("Sm", "Eu", "Gd")),
    ("Tb", "terbium oxide", ("Tb",)),
    ("Dy", "dysprosium oxide", ("Dy",)),
    ("HRE", "holmium-lutetium oxide", ("Ho", "Er", "Tm", "Yb", "Lu", "Sc")),
    ("Y", "yttrium oxide", ("Y",)),
)

#: Products of recycling sintered magnet scrap (Tb rides with Dy: both are grain-boundary additives).
RECYCLED: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("PrNd", "recycled praseodymium-neodymium oxide", ("La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu",
                                                      "Gd", "Ho", "Er", "Tm", "Yb", "Lu", "Y", "Sc")),
    ("Dy", "recycled dysprosium-terbium oxide", ("Tb", "Dy")),
)  # fmt: skip


def perturb(profile: Mapping[str, float], rng: random.Random, spread: float) -> dict[str, float]:
    """The profile of one lot of a deposit: each share varies by up to ``spread`` (relative)."""
    return normalise_profile({el: v * (1.0 + rng.uniform(-spread, spread)) for el, v in profile.items()})


def element_kg(profile: Mapping[str, float], reo_kg: float) -> ElementKg:
    """Split ``reo_kg`` of REO over a percent profile."""
    total = sum(profile.values())
    return {el: reo_kg * v / total for el, v in profile.items() if v > 0}


def add(into: ElementKg, more: Mapping[str, float], factor: float = 1.0) -> None:
    for el, kg in more.items():
        into[el] = into.get(el, 0.0) + kg * factor


def blend(parts: Iterable[Mapping[str, float]]) -> ElementKg:
    """Sum of element REO over several drawn inputs: the REO-weighted blend of their profiles."""
    out: ElementKg = {}
    for part in parts:
        add(out, part)
    return out


def scaled(el: Mapping[str, float], factor: float) -> ElementKg:
    return {k: v * factor for k, v in el.items()}


def split_products(
    feed: Mapping[str, float], products: tuple[tuple[str, str, tuple[str, ...]], ...], min_kg: float
) -> list[tuple[str, str, ElementKg]]:
    """Group feed element REO into products; a product under ``min_kg`` joins the largest one.

    Trace products (a few kg of Tb from Bayan Obo feed) are real but not worth a drum of their own;
    folding them into the main product keeps every element in some output.
    """
    groups: list[tuple[str, str, ElementKg]] = []
    for key, name, els in products:
        part = {el: feed[el] for el in els if feed.get(el, 0.0) > 0}
        if part:
            groups.append((key, name, part))
    if not groups:
        return []
    host = max(groups, key=lambda g: sum(g[2].values()))
    kept = [g for g in groups if g is host or sum(g[2].values()) >= min_kg]
    for g in groups:
        if not any(g is k for k in kept):
            add(host[2], g[2])
    return kept


def metal_kg(el_reo: Mapping[str, float]) -> dict[str, float]:
    """Element metal kg for element REO kg (docs/contract/reference-facts.md factors)."""
    return {el: kg * METAL_PER_OXIDE[el] for el, kg in el_reo.items()}
