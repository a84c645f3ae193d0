"""The search's prefix ranges over many enterprises (more than one statement's worth on SQLite), on
SQLite and PostgreSQL: pages identical to the lots chosen and ordered here in Python for a table of
inputs, with and without period and form; a text that matches nothing read in one statement on
PostgreSQL, its "did you mean" in one more; the bounds of a range (:func:`_successor`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import reetrace
from reetrace.search import FIRST_RANGES
from reetrace.store import Store, open_store
from reetrace.store.postgres import _successor
from tests.builders import BAYAN_OBO, ev, load_registry, out, submit_events

#: Twelve enterprises, two of them differing in case only: more prefix ranges than FIRST_RANGES.
CODES = [f"E{i:02d}" for i in range(1, 12)] + ["e05"]
assert len(CODES) > FIRST_RANGES


def _form(code: str, month: str) -> str:
    # Every third enterprise makes ore in March, the others concentrate; April is ore for all.
    return "ore" if month == "04" or int(code[1:]) % 3 == 0 else "concentrate"


#: (lot, form, period) of every effective lot.
LOTS = [
    (f"{code}:X-25{month}-{k}", _form(code, month), f"2025-{month}")
    for code in CODES
    for month, n in (("03", 3), ("04", 2))
    for k in range(1, n + 1)
] + [("E07:Q-1", "concentrate", "2025-03")]


def fill(store: Store, tmp_path: Path) -> None:
    load_registry(store, {
        "enterprises": [{"code": c, "name": c, "roles": ["mining"], "approved": True} for c in CODES],
        "sites": [{"code": f"S-{c}", "enterprise": c, "kind": "mine"} for c in CODES],
    })  # fmt: skip
    for code in CODES:
        for month in ("03", "04"):
            made = [
                ev(f"{lot}-ev", "extract", code, f"S-{code}", f"2025-{month}-0{int(lot[-1])}",
                   outputs=[out(lot.partition(":")[2], form, 10, reo_pct=50, elements=BAYAN_OBO)])
                for lot, form, per in LOTS
                if lot.startswith(f"{code}:") and per == f"2025-{month}"
            ]  # fmt: skip
            if code == "E03" and month == "03":  # a retracted lot is not found
                made += [
                    ev("gone", "extract", code, f"S-{code}", "2025-03-08",
                       outputs=[out("X-2503-9", "concentrate", 1, reo_pct=50, elements=BAYAN_OBO)]),
                    ev("undo", "retract", code, f"S-{code}", "2025-03-09", retracts="gone", reason="typo"),
                ]  # fmt: skip
            submit_events(
                store, tmp_path, code, f"2025-{month}", made, received_at=f"2025-{month}-20T10:00:00+08:00"
            )


@pytest.fixture(scope="module")
def many(module_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = open_store(module_db)
    fill(store, tmp_path_factory.mktemp("ranges"))
    try:
        yield store
    finally:
        store.dispose()


def expected(text: str | None, period: str | None = None, form: str | None = None) -> list[str]:
    """The lots a search finds, chosen and ordered here: a code prefix of the whole reference or of the
    code after ``ENT:``, ignoring case; by code ignoring case, then as written."""
    t = (text or "").lower()

    def hit(lot: str) -> bool:
        low = lot.lower()
        return low.startswith(t) or (":" not in t and low.partition(":")[2].startswith(t))

    found = [lot for lot, f, p in LOTS if hit(lot) and period in (None, p) and form in (None, f)]
    return sorted(found, key=lambda lot: (lot.lower().encode(), lot.encode()))


INPUTS: list[tuple[str | None, str | None, str | None]] = [
    ("x-", None, None),
    ("X-2503", None, None),
    ("x-2504-2", None, None),
    ("e05:x", None, None),
    ("E0", None, None),
    ("e1", None, None),
    ("q", None, None),
    ("x-25q03-1", None, None),
    ("zz", None, None),
    (None, "2025-03", None),
    (None, "2025-04", "ore"),
    (None, "2025-03", "ore"),
    (None, "2025-03", "concentrate"),
    ("x-", "2025-03", "concentrate"),
    ("e05:", "2025-04", None),
    ("x-25", None, "ore"),
]


@pytest.mark.parametrize(("text", "period", "form"), INPUTS)
def test_pages_match_the_lots_chosen_in_python(
    many: Store, text: str | None, period: str | None, form: str | None
) -> None:
    want = expected(text, period, form)
    whole = reetrace.search_lots(many, text, period=period, form=form, limit=100, references=False)
    assert [h.lot for h in whole.hits] == want and not whole.more
    paged: list[str] = []
    for n in range(30):  # bounded: fewer than 30 pages of 3 in the fixture
        found = reetrace.search_lots(many, text, period=period, form=form, limit=3, offset=3 * n)
        paged += [h.lot for h in found.hits]
        if not found.more:
            break
    assert paged == want


def _reads_of_codes(store: Store, call: Any) -> int:
    """How many statements ``call`` sends that read lot codes by prefix range (they carry ``rng``)."""
    sent: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        sent.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", count)
    try:
        call()
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", count)
    return sum(" rng" in s for s in sent)


def test_a_text_that_matches_nothing_is_one_read_and_did_you_mean_one_more(many: Store) -> None:
    text = "x-25q03-1"  # 13 ranges; "did you mean" tries 9, 6, 4… characters of it, 13 ranges each
    assert reetrace.search_lots(many, text).hits == []
    searches = _reads_of_codes(many, lambda: reetrace.search_lots(many, text))
    suggests = _reads_of_codes(many, lambda: reetrace.similar_lots(many, text))
    if many.dialect == "postgresql":
        assert (searches, suggests) == (1, 1)
    else:  # SQLite: FIRST_RANGES arms, then up to MAX_RANGES per statement (it plans them in microseconds)
        assert (searches, suggests) == (2, 1)


def test_did_you_mean_takes_the_longest_prefix_that_has_lots(many: Store) -> None:
    # The lists the code before one-statement reads gave on this store (both backends): "x-25q" has
    # no lots, "x-2" has every X- lot, the retracted one too; the closest codes, the first holder each.
    assert reetrace.similar_lots(many, "x-25q03-1") == [
        "E01:X-2503-1", "E01:X-2504-1", "E03:X-2503-9", "E01:X-2503-3", "E01:X-2503-2",
    ]  # fmt: skip
    assert reetrace.similar_lots(many, "x-2503-19") == [
        "E03:X-2503-9",
        "E01:X-2503-1",
        "E01:X-2503-3",
        "E01:X-2503-2",
    ]
    assert reetrace.similar_lots(many, "e05:x-2503-1x") == [
        "E05:X-2503-1", "E05:X-2504-1", "E05:X-2503-3", "E05:X-2503-2", "E05:X-2504-2",
    ]  # fmt: skip
    assert reetrace.similar_lots(many, "zzzz") == []
    assert reetrace.similar_lots(many, "E05:X-2503-1") == []  # itself is not offered


@pytest.mark.parametrize(
    ("prefix", "after"),
    [
        ("abc", "abd"),
        ("a\U0010ffff", "b"),
        ("a\ud7ff", "a\ue000"),  # no surrogate: the character after U+D7FF is U+E000
        ("\U0010ffff\U0010ffff", None),
        ("", None),
    ],
)
def test_a_range_ends_at_the_successor_of_its_prefix(prefix: str, after: str | None) -> None:
    assert _successor(prefix) == after
