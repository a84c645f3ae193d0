"""Mass units of UN/ECE Recommendation 20 (the codes EPCIS ``uom`` takes), as factors to kilograms.

A trace weighs material, so only masses count; a count (``EA``, or no ``uom`` at all) or a volume is not
one, and is refused by whoever asks rather than guessed at.
"""

from __future__ import annotations

from typing import Final

KG_PER_UNIT: Final[dict[str, float]] = {
    "KGM": 1.0,  # kilogram
    "GRM": 1e-3,  # gram
    "MGM": 1e-6,  # milligram
    "TNE": 1000.0,  # tonne (metric ton)
    "KTN": 1e6,  # kilotonne
    "DTN": 100.0,  # decitonne (quintal)
    "LBR": 0.45359237,  # pound
    "ONZ": 0.028349523125,  # ounce
    "STN": 907.18474,  # short ton
    "LTN": 1016.0469088,  # long ton
}


def mass_factor(uom: str) -> float | None:
    """Kilograms per ``uom``, or None when ``uom`` is not a mass."""
    return KG_PER_UNIT.get(uom)
