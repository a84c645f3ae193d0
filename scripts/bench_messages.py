"""What showing the library's texts in Chinese costs a workbench page: ``say`` of the finding summaries
of a full findings page (500 rows, the page's cap) in zh-CN, against the same in English (the
library's text as it is) and against rendering the page's table, measured in the same run.

    python scripts/bench_messages.py [--rows 500] [--repeat 30]

The summaries are made by the audit's own templates (one of each kind the rules produce, with numbers
that need grouping, nested messages and instants), so they go through the catalog exactly as a saved
run's do. Reports the median of ``--repeat`` rounds; no database, no network.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from reetrace.messages import M_, Instant, Message, word, words
from reetrace.web import i18n


def _summaries(n: int) -> list[Message]:
    out: list[Message] = []
    for i in range(n):
        lot, ent = f"ENT{i % 97:03d}:LOT-{i:06d}", f"ENT{i % 97:03d}"
        kg = 1000.0 + i * 37.3
        when = Instant(datetime(2025, 3, 1, tzinfo=UTC) + timedelta(hours=i))
        kind = i % 8
        if kind == 0:
            m = M_("{lot}: {drawn:.1f} kg drawn from a lot of {mass:.1f} kg (+{excess_pct:.2f}%)",
                   lot=lot, drawn=kg * 1.2, mass=kg, excess_pct=20.0)  # fmt: skip
        elif kind == 1:
            m = M_("{sender} shipped {kg:.1f} kg of {lot} to {receiver}; no receive reported",
                   sender=ent, kg=kg, lot=lot, receiver="OTHER")  # fmt: skip
        elif kind == 2:
            m = M_("{lot} has no creating event, yet {ent} drew {kg:.1f} kg of it ({types})",
                   lot=lot, ent=ent, kg=kg, types=words(["receive", "process"]))  # fmt: skip
        elif kind == 3:
            m = M_(
                "{ent} has not reported {period} (due {deadline})", ent=ent, period="2025-03", deadline=when
            )
        elif kind == 4:
            m = M_("{ent} {period}: received {delay} after the deadline{given}", ent=ent, period="2025-03",
                   delay=M_("{days:.1f} days", days=i / 10), given="")  # fmt: skip
        elif kind == 5:
            m = M_("{holder} {category} {year}: {used:.1f} t REO used, quota {quota:.1f} t (+{excess_pct:.2f}%)",
                   holder=ent, category=word("separation"), year=2025, used=kg, quota=kg / 1.05,
                   excess_pct=5.0)  # fmt: skip
        elif kind == 6:
            m = M_("{ent} recorded a {type} with {cp}, who is not in the registry", ent=ent, type=word("ship"),
                   cp="NOBODY")  # fmt: skip
        else:
            m = M_("{lot} used at {used_at}, {hours:.1f} h before it was created at {made_at}",
                   lot=lot, used_at=when, hours=1.5, made_at=when)  # fmt: skip
        out.append(m)
    return out


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    rows = _summaries(max(1, args.rows))
    i18n.translations("zh-CN")  # the catalog is read once per process, at the first page
    table = i18n.environment("zh-CN").from_string(
        "<table>{% for s in rows %}<tr><td>{{ s|say }}</td></tr>{% endfor %}</table>"
    )
    plain = i18n.environment("en").from_string(
        "<table>{% for s in rows %}<tr><td>{{ s }}</td></tr>{% endfor %}</table>"
    )
    en = _median_ms(lambda: [i18n.say("en", s) for s in rows], args.repeat)
    zh = _median_ms(lambda: [i18n.say("zh-CN", s) for s in rows], args.repeat)
    page_plain = _median_ms(lambda: plain.render(rows=rows), args.repeat)
    page_zh = _median_ms(lambda: table.render(rows=rows), args.repeat)
    print(f"{len(rows)} summaries, median of {args.repeat} rounds")
    print(f"  say, en (the library's text):      {en:8.2f} ms")
    print(f"  say, zh-CN (catalog + locale):     {zh:8.2f} ms   ({zh / len(rows) * 1000:.1f} µs a summary)")
    print(f"  table of summaries, untranslated:  {page_plain:8.2f} ms")
    print(f"  table of summaries, zh-CN:         {page_zh:8.2f} ms   (x{page_zh / page_plain:.1f})")


if __name__ == "__main__":
    main()
