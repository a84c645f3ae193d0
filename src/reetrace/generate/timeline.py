"""Time: the month's phases, strictly increasing timestamps, submission receipt times.

China has one offset all year (+08:00, no daylight saving), so a fixed offset is exact for
Asia/Shanghai and needs no time zone database.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from reetrace.generate.lots import Ev
from reetrace.periods import Period

CST = timezone(timedelta(hours=8))
DAY = 86_400
HOUR = 3_600

#: The chain of one month, in order, as (phase, first day, last day) of the month (0-based, fractions
#: allowed). Material moves down the chain within the month; each phase's events get times inside its
#: window, so every file is in time order and a receive always follows its ship.
PHASES: tuple[tuple[str, float, float], ...] = (
    ("mining", 0.0, 6.0),
    ("feed_custody", 6.0, 9.0),
    ("separation", 9.0, 13.0),
    ("oxide_custody", 13.0, 16.0),
    ("smelting", 16.0, 19.0),
    ("metal_custody", 19.0, 21.0),
    ("magnet_making", 21.0, 24.0),
    ("product_custody", 24.0, 26.5),
    ("final", 26.5, 28.0),
)
PHASE_NAMES = tuple(p[0] for p in PHASES)


def month_bounds(year: int, month: int) -> tuple[int, int]:
    """Epoch seconds of the month's first instant and of the next month's, Asia/Shanghai."""
    p = Period(year, month)
    return int(p.start().timestamp()), int(p.end().timestamp())


def period(year: int, month: int) -> str:
    return str(Period(year, month))


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, CST).isoformat()


def stamp(evs: Sequence[Ev], start: int, end: int, rng: random.Random) -> None:
    """Give ``evs`` strictly increasing times in ``[start, end)``, spread over the window."""
    n = len(evs)
    if not n:
        return
    span = end - start
    if n > span:
        raise ValueError(f"{n} events in a {span} s window: the scale is too large for one-second timestamps")
    step = span / n
    jitter = max(1, int(step))
    for i, ev in enumerate(evs):
        # floor((i+1)·step) − floor(i·step) ≥ floor(step) > any jitter, so times strictly increase.
        ev.t = start + int(i * step) + rng.randrange(jitter)
        ev.data["occurred_at"] = iso(ev.t)
        for lot in ev.born:
            lot.created = ev.t


def received_at(year: int, month: int, rng: random.Random, *, late: bool = False) -> str:
    """When the report for ``month`` reached the system: the 1st–10th of the next month, or later."""
    first = int(Period(year, month).end().timestamp())
    if late:
        # After the deadline (the 10th, 23:59:59) but before the next period's reports are due.
        lo, hi = first + 11 * DAY + 8 * HOUR, first + 25 * DAY
    else:
        lo, hi = first + 8 * HOUR, first + 9 * DAY + 22 * HOUR
    return iso(rng.randrange(lo, hi))
