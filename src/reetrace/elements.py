"""Rare earth elements and the one place where masses become REO-equivalent kilograms.

Balances, attribution and quotas are always computed in REO-equivalent kg (docs/contract/events.md). A
lot line gives its rare earth content either as ``reo_pct`` (percent REO of the gross mass, element
shares on the oxide basis) or as ``re_metal_pct`` (percent RE metal, element shares on the metal basis).
Metal is turned into oxide with the metal/oxide mass factors of docs/contract/reference-facts.md,
element by element when the profile is known and with a flat 0.85 when it is not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

#: Element keys in the order of the periodic table (Y and Sc last, as the contract lists them).
ELEMENTS: tuple[str, ...] = (
    "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy",
    "Ho", "Er", "Tm", "Yb", "Lu", "Y", "Sc",
)  # fmt: skip

#: Metal mass per oxide mass (docs/contract/reference-facts.md): La2O3 0.8527, CeO2 0.8141, Pr6O11 0.8277 ...
METAL_PER_OXIDE: dict[str, float] = {
    "La": 0.8527, "Ce": 0.8141, "Pr": 0.8277, "Nd": 0.8574, "Pm": 0.858,
    "Sm": 0.8624, "Eu": 0.8636, "Gd": 0.8676, "Tb": 0.8502, "Dy": 0.8713,
    "Ho": 0.8730, "Er": 0.8745, "Tm": 0.8756, "Yb": 0.8782, "Lu": 0.8794,
    "Y": 0.7874, "Sc": 0.6520,
}  # fmt: skip

#: Used when a metal-basis line has no element profile (docs/contract/events.md).
UNKNOWN_METAL_PER_OXIDE = 0.85

#: Element shares must sum to 100 within this many percentage points.
SHARE_SUM_TOLERANCE = 0.5


def reo_equivalent(
    mass_kg: float,
    *,
    reo_pct: float | None = None,
    re_metal_pct: float | None = None,
    elements: Mapping[str, float] | None = None,
) -> tuple[float, dict[str, float] | None]:
    """Return (REO-equivalent kg, per-element REO-equivalent kg or None when the profile is unknown).

    Shares are normalised by their own sum, so a profile summing to 99.7 still attributes the whole
    REO content. Exactly one of ``reo_pct`` and ``re_metal_pct`` must be given.
    """
    if (reo_pct is None) == (re_metal_pct is None):
        raise ValueError("exactly one of reo_pct and re_metal_pct is required")
    # fsum is exactly rounded, so the result does not depend on the order the shares were listed in:
    # verify re-derives these numbers from the canonical (key-sorted) record and must get the same bits.
    total_share = math.fsum(elements.values()) if elements else 0.0
    if reo_pct is not None:
        reo = mass_kg * reo_pct / 100.0
        if not elements or total_share <= 0:
            return reo, None
        return reo, {el: reo * share / total_share for el, share in elements.items() if share > 0}
    assert re_metal_pct is not None
    metal = mass_kg * re_metal_pct / 100.0
    if not elements or total_share <= 0:
        return metal / UNKNOWN_METAL_PER_OXIDE, None
    per_element = {
        el: metal * share / total_share / METAL_PER_OXIDE[el] for el, share in elements.items() if share > 0
    }
    return math.fsum(per_element.values()), per_element


def normalise_profile(profile: Mapping[str, float]) -> dict[str, float]:
    """Scale a profile so that its shares sum to exactly 100 (zero shares dropped)."""
    total = sum(v for v in profile.values() if v > 0)
    if total <= 0:
        raise ValueError("a profile needs at least one positive share")
    return {el: v * 100.0 / total for el, v in profile.items() if v > 0}
