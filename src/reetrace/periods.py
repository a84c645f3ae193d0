"""Reporting periods and the Asia/Shanghai calendar they live in.

A period is one calendar month, written ``YYYY-MM``. Its events happened between the first instant of
the month and the first instant of the next, Asia/Shanghai; its report is due by the 10th of the next
month, 23:59:59 Asia/Shanghai (docs/contract/submissions.md). Every part of reetrace that reasons about
months (submission, audit, generator, CLI) does it here, so that there is one calendar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from reetrace.messages import M_

SHANGHAI = ZoneInfo("Asia/Shanghai")
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
#: Periods outside these years are typing mistakes (traceability began in the 2010s); bounding them
#: also keeps every derived time inside what both databases store.
FIRST_YEAR = 1990
LAST_YEAR = 2100


@dataclass(frozen=True, order=True)
class Period:
    year: int
    month: int

    def __post_init__(self) -> None:
        if not (FIRST_YEAR <= self.year <= LAST_YEAR):
            raise ValueError(
                M_(
                    "period year {year} is outside {first}–{last}",
                    year=self.year,
                    first=FIRST_YEAR,
                    last=LAST_YEAR,
                )
            )
        if not 1 <= self.month <= 12:
            raise ValueError(M_("period month {month} is not 1–12", month=self.month))

    @classmethod
    def parse(cls, text: str) -> Period:
        m = _PERIOD.match(text.strip())
        if not m:
            raise ValueError(M_("period {text} is not YYYY-MM", text=repr(text)))
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def of(cls, when: datetime) -> Period:
        """The period an aware instant falls in, Asia/Shanghai."""
        local = when.astimezone(SHANGHAI)
        return cls(local.year, local.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def shift(self, months: int) -> Period:
        index = self.year * 12 + (self.month - 1) + months
        return Period(index // 12, index % 12 + 1)

    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=SHANGHAI)

    def end(self) -> datetime:
        """Start of the next month (exclusive end), Asia/Shanghai."""
        y, m = (self.year + 1, 1) if self.month == 12 else (self.year, self.month + 1)
        return datetime(y, m, 1, tzinfo=SHANGHAI)

    def deadline(self) -> datetime:
        """The 10th of the following month, 23:59:59 Asia/Shanghai."""
        return self.end().replace(day=10, hour=23, minute=59, second=59)


def shift(period: str, months: int) -> str:
    """``YYYY-MM`` text moved by ``months``."""
    return str(Period.parse(period).shift(months))


def closed_period(as_of: datetime) -> str:
    """The latest period whose reporting deadline lies before ``as_of``."""
    previous = Period.of(as_of).shift(-1)
    if previous.deadline() < as_of:
        return str(previous)
    return str(previous.shift(-1))


__all__ = ["SHANGHAI", "Period", "closed_period", "shift"]
