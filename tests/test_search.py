"""Finding a lot (reetrace.search): each kind of text, the filters and paging, on SQLite and PostgreSQL;
the ``documents`` rows behind the search by number, re-derived and checked by ``verify``; the page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import reetrace
from reetrace.errors import VerificationFailed
from reetrace.store import Store, open_store
from reetrace.store.derive import document_rows
from reetrace.store.migrate import HEAD, run_upgrade
from reetrace.store.schema import FORM_SEARCH_INDEXES, PRODUCT_SEARCH_INDEXES, SEARCH_INDEXES
from reetrace.store.verify import verify
from tests.builders import BAYAN_OBO, ev, inp, load_registry, out, submit_events
from tests.service_helpers import start_server
from tests.test_store_contract import _tamper

# MINE reports 12 March lots, MINE2 8 April ones (codes in upper case, one in mixed case), so that a
# prefix without ENT: spans two enterprises and several pages; IMP imports under a customs entry; MINE
# ships one lot under a waybill and an invoice, and retracts one lot.
MARCH = [
    ev(f"m{i}", "extract", "MINE", "BO", "2025-03-02",
       outputs=[out(f"ORE-2503-{i:03d}", "concentrate", 100 + i, reo_pct=50, elements=BAYAN_OBO)])
    for i in range(1, 13)
] + [
    ev("mx", "extract", "MINE", "BO", "2025-03-03",
       outputs=[out("Ore-Mixed-1", "concentrate", 7, reo_pct=50, elements=BAYAN_OBO)]),
    ev("ship", "ship", "MINE", "BO", "2025-03-05", counterparty="SEP", inputs=[inp("ORE-2503-001", 101)],
       documents={"waybill": "WB-77-Q", "invoice": "ore-2503-002"}),
    ev("gone", "extract", "MINE", "BO", "2025-03-06",
       outputs=[out("ORE-2503-999", "concentrate", 1, reo_pct=50, elements=BAYAN_OBO)]),
    ev("undo", "retract", "MINE", "BO", "2025-03-07", retracts="gone", reason="typo"),
]  # fmt: skip
APRIL = [
    ev(f"n{i}", "extract", "MINE2", "SC", "2025-04-02",
       outputs=[out(f"ORE-2504-{i:03d}", "ore", 200 + i, reo_pct=5, elements=BAYAN_OBO)])
    for i in range(1, 9)
]  # fmt: skip
IMPORTS = [
    ev("i1", "import", "IMP", "PORT", "2025-03-04",
       origin={"customs_entry": "530420250311001", "country": "MM", "hs_code": "2846.90"},
       outputs=[out("MM-ION-0311", "mixed_compound", 500, reo_pct=92)]),
]  # fmt: skip

MINE_LOTS = [f"MINE:ORE-2503-{i:03d}" for i in range(1, 13)] + ["MINE:Ore-Mixed-1"]
MINE2_LOTS = [f"MINE2:ORE-2504-{i:03d}" for i in range(1, 9)]
#: Every lot whose code starts with "ore", in search order: by code ignoring case.
ORE = sorted(MINE_LOTS + MINE2_LOTS, key=lambda lot: (lot.lower(), lot))


def fill(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    submit_events(store, tmp_path, "MINE", "2025-03", MARCH)
    submit_events(store, tmp_path, "IMP", "2025-03", IMPORTS)
    submit_events(store, tmp_path, "MINE2", "2025-04", APRIL, received_at="2025-05-05T10:00:00+08:00")


@pytest.fixture(scope="module")
def filled(module_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = open_store(module_db)
    fill(store, tmp_path_factory.mktemp("search"))
    try:
        yield store
    finally:
        store.dispose()


def lots(store: Store, text: str | None, **kw: Any) -> list[str]:
    return [h.lot for h in reetrace.search_lots(store, text, limit=100, **kw).hits]


def every_page(store: Store, text: str | None, size: int, **kw: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    for n in range(50):  # bounded: the fixture has fewer than 50 pages of anything
        found = reetrace.search_lots(store, text, limit=size, offset=n * size, **kw)
        pages.append([h.lot for h in found.hits])
        if not found.more:
            return pages
    raise AssertionError("more than 50 pages")


@pytest.mark.parametrize("text", ["ore", "ORE", "oRe-25", "o"])
def test_a_code_prefix_without_the_enterprise_any_case(filled: Store, text: str) -> None:
    want = [lot for lot in ORE if lot.partition(":")[2].lower().startswith(text.lower())]
    assert lots(filled, text) == want
    assert "MINE:ORE-2503-999" not in want  # retracted: never found


def test_a_prefix_with_the_enterprise_a_full_code_and_an_enterprise_alone(filled: Store) -> None:
    assert lots(filled, "mine:ore-2503-00") == [f"MINE:ORE-2503-{i:03d}" for i in range(1, 10)]
    assert lots(filled, "MINE2:ORE-2504-007") == ["MINE2:ORE-2504-007"]
    assert lots(filled, "mine2:ore-2504-007") == ["MINE2:ORE-2504-007"]
    assert lots(filled, "mine2") == MINE2_LOTS  # a prefix of the whole reference
    assert lots(filled, "mine") == ORE  # both enterprises' codes start with MINE…
    assert lots(filled, "mine:ore-2503-999") == []


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("530420250311001", [("IMP:MM-ION-0311", "customs_entry")]),
        ("wb-77-q", [("MINE:ORE-2503-001", "documents.waybill")]),
        ("WB-77-q", [("MINE:ORE-2503-001", "documents.waybill")]),
        ("WB-77", []),  # a number is matched whole
    ],
)
def test_a_customs_entry_or_a_document_number(filled: Store, text: str, want: list[tuple[str, str]]) -> None:
    got = reetrace.search_lots(filled, text).hits
    assert [(h.lot, h.matched) for h in got] == want
    assert lots(filled, text, references=False) == []


def test_a_number_that_is_also_a_code_prefix_lists_each_lot_once(filled: Store) -> None:
    # The ship's invoice number is the code of another lot: the lot it drew comes first, as a
    # reference, then the lot whose code it is.
    got = reetrace.search_lots(filled, "ORE-2503-002").hits
    assert [(h.lot, h.matched) for h in got] == [
        ("MINE:ORE-2503-001", "documents.invoice"),
        ("MINE:ORE-2503-002", "lot"),
    ]
    got = reetrace.search_lots(filled, "ore-2503-001").hits
    assert [(h.lot, h.matched) for h in got] == [("MINE:ORE-2503-001", "lot")]


@pytest.mark.parametrize("size", [1, 3, 7, 21, 22])
def test_pages_have_neither_duplicates_nor_gaps(filled: Store, size: int) -> None:
    pages = every_page(filled, "ore", size)
    assert [lot for page in pages for lot in page] == ORE
    assert all(len(page) == size for page in pages[:-1])


def test_product_text_after_the_codes(filled: Store) -> None:
    got = reetrace.search_lots(filled, "Mixed_Comp", limit=100).hits
    assert [(h.lot, h.matched) for h in got] == [("IMP:MM-ION-0311", "product")]
    # "ore" is a code prefix and a product name: the codes first, the ore lots once.
    got = reetrace.search_lots(filled, "ore", limit=100).hits
    assert [h.lot for h in got] == ORE and {h.matched for h in got} == {"lot"}
    got = reetrace.search_lots(filled, "concent", limit=100).hits
    assert [h.lot for h in got] == sorted(MINE_LOTS, key=str.lower)
    assert lots(filled, "concent", period="2025-04") == []
    pages = every_page(filled, "CONCENT", 5)
    assert [lot for page in pages for lot in page] == sorted(MINE_LOTS, key=str.lower)
    assert lots(filled, "mixed", order="recorded") == ["IMP:MM-ION-0311"]


def test_filters_with_and_without_text(filled: Store) -> None:
    assert lots(filled, "ore", enterprise="MINE2") == MINE2_LOTS
    assert lots(filled, "ore", enterprise="MINE") == sorted(MINE_LOTS, key=str.lower)
    assert lots(filled, "ore", form="ore") == MINE2_LOTS
    assert lots(filled, "ore", period="2025-04") == MINE2_LOTS
    assert lots(filled, "ore", period="2025-03", form="ore") == []
    assert lots(filled, None, form="mixed_compound") == ["IMP:MM-ION-0311"]
    assert lots(filled, None, enterprise="MINE2") == MINE2_LOTS
    assert lots(filled, None, period="2025-04") == MINE2_LOTS
    assert [lot for page in every_page(filled, None, 4, period="2025-03") for lot in page] == sorted(
        [*MINE_LOTS, "IMP:MM-ION-0311"]
    )
    second = reetrace.search_lots(filled, "ore", enterprise="MINE", limit=5, offset=5)
    assert [h.lot for h in second.hits] == sorted(MINE_LOTS, key=str.lower)[5:10] and second.more
    assert lots(filled, "wb-77-q", enterprise="MINE2") == []


def test_by_position_in_the_log(filled: Store) -> None:
    assert lots(filled, "ore", order="recorded") == MINE_LOTS + MINE2_LOTS
    pages = every_page(filled, "o", 4, order="recorded")
    assert [lot for page in pages for lot in page] == MINE_LOTS + MINE2_LOTS


def test_no_match_suggests_the_closest_codes(filled: Store) -> None:
    assert lots(filled, "ore-2530-001") == []
    assert "MINE:ORE-2503-001" in reetrace.similar_lots(filled, "ore-2530-001")
    assert "MINE:ORE-2503-001" in reetrace.similar_lots(filled, "mine:ore-2503-0011")
    assert reetrace.similar_lots(filled, "zzzz") == []


def test_enterprise_codes_differing_in_case_share_a_range(store: Store, tmp_path: Path) -> None:
    registry = {
        "enterprises": [
            {"code": code, "name": code, "roles": ["mining"], "approved": True} for code in ("AB", "ab")
        ],
        "sites": [{"code": f"S-{code}", "enterprise": code, "kind": "mine"} for code in ("AB", "ab")],
    }
    load_registry(store, registry)
    for code in ("AB", "ab"):
        made = [ev(f"{code}-1", "extract", code, f"S-{code}", "2025-03-02",
                   outputs=[out("X-1", "concentrate", 10, reo_pct=50, elements=BAYAN_OBO)])]  # fmt: skip
        submit_events(store, tmp_path, code, "2025-03", made)
    assert sorted(lots(store, "x-")) == ["AB:X-1", "ab:X-1"]
    assert sorted(lots(store, "x-", period="2025-03")) == ["AB:X-1", "ab:X-1"]
    assert sorted(lots(store, "Ab:x")) == ["AB:X-1", "ab:X-1"]
    assert sorted(lots(store, None, period="2025-03")) == ["AB:X-1", "ab:X-1"]


def test_bad_input_is_refused_by_name(filled: Store) -> None:
    with pytest.raises(ValueError, match="limit"):
        reetrace.search_lots(filled, "ore", limit=0)
    with pytest.raises(ValueError, match="offset"):
        reetrace.search_lots(filled, "ore", offset=-1)
    with pytest.raises(ValueError, match="order"):
        reetrace.search_lots(filled, "ore", order="mass")
    # Characters a LIKE pattern would treat as wildcards are plain characters here.
    assert lots(filled, "ore_2503") == [] and lots(filled, "%") == []


def test_prefixes_are_read_in_order_from_the_search_indexes(filled: Store) -> None:
    from reetrace.store.dialect import dialect_of

    with filled.reading() as conn:
        sql = dialect_of(conn)
        if filled.dialect == "postgresql":
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a tiny table: force the planner's hand
            conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
            explain = "EXPLAIN "
        else:
            explain = "EXPLAIN QUERY PLAN "
        plans = {}
        for name, cond in (
            ("lot", ""),
            ("form", "l.form = 'ore' AND "),
            ("product", "l.product = 'ore' AND "),
        ):
            q = (
                f"{explain}SELECT lot FROM lots l WHERE {cond}{sql.prefix_match('l.lot', 'p')} "
                f"ORDER BY {sql.prefix_order('l.lot')} LIMIT 5"
            )
            plan = " ".join(str(r) for r in conn.execute(sa.text(q), sql.prefix_params("p", "mine2:o")))
            plans[name] = plan
    assert SEARCH_INDEXES[filled.dialect] in plans["lot"], plans
    assert FORM_SEARCH_INDEXES[filled.dialect] in plans["form"], plans
    assert PRODUCT_SEARCH_INDEXES[filled.dialect] in plans["product"], plans
    assert "TEMP B-TREE" not in " ".join(plans.values())  # SQLite: no sort, the index's order
    assert "Sort" not in " ".join(plans.values())  # PostgreSQL: likewise


# -- the documents rows -----------------------------------------------------------------------------


def test_document_rows_of_an_import_an_export_and_a_ship() -> None:
    imp = {"origin": {"customs_entry": "E-1", "country": "MM"}, "documents": {"invoice": "Inv-1"}}
    assert document_rows(5, imp) == [
        (5, 0, "origin.customs_entry", "E-1", "e-1"),
        (5, 1, "documents.invoice", "Inv-1", "inv-1"),
    ]
    exp = {"destination": {"country": "DE", "customs_entry": "X-9"}}
    assert document_rows(6, exp) == [(6, 0, "destination.customs_entry", "X-9", "x-9")]
    assert document_rows(7, {"documents": {"waybill": ["A", "B"]}}) == [
        (7, 0, "documents.waybill", "A", "a"), (7, 1, "documents.waybill", "B", "b"),
    ]  # fmt: skip
    assert document_rows(8, {"type": "extract"}) == []


def _documents(store: Store) -> list[tuple[Any, ...]]:
    with store.reading() as conn:
        return [tuple(r) for r in conn.execute(sa.text("SELECT * FROM documents ORDER BY position, idx"))]


def test_verify_rederives_the_documents_rows(store: Store, tmp_path: Path) -> None:
    fill(store, tmp_path)
    rows = _documents(store)
    assert [r[2:] for r in rows] == [
        ("documents.invoice", "ore-2503-002", "ore-2503-002"),  # the record's keys are sorted
        ("documents.waybill", "WB-77-Q", "wb-77-q"),
        ("origin.customs_entry", "530420250311001", "530420250311001"),
    ]
    verify(store)
    ship = rows[0][0]
    _tamper(store, f"UPDATE documents SET number_key = 'wb-78-q' WHERE position = {ship} AND idx = 1")
    with pytest.raises(VerificationFailed) as err:
        verify(store)
    assert err.value.position == ship and "documents row differs" in err.value.reason


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("DELETE FROM documents WHERE position = {p}", "documents is missing"),
        ("INSERT INTO documents VALUES ({p}, 2, 'documents.contract', 'C-1', 'c-1')", "documents has an extra"),
    ],
)  # fmt: skip
def test_verify_catches_documents_rows_removed_or_added(
    store: Store, tmp_path: Path, sql: str, reason: str
) -> None:
    fill(store, tmp_path)
    ship = _documents(store)[0][0]
    _tamper(store, sql.format(p=ship))
    with pytest.raises(VerificationFailed) as err:
        verify(store)
    assert err.value.position == ship and reason in err.value.reason


def test_migration_0008_fills_documents_from_the_log_and_goes_back(store: Store, tmp_path: Path) -> None:
    from alembic import command

    from reetrace.store.migrate import _config

    fill(store, tmp_path)
    rows = _documents(store)
    with store.engine.begin() as conn:
        cfg = _config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007")
        assert not sa.inspect(conn).has_table("documents")
    with store.engine.begin() as conn:
        run_upgrade(conn)
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == HEAD
    assert _documents(store) == rows
    verify(store)  # the triggers, the index and the rows are those of a store made at 0008
    assert lots(store, "wb-77-q") == ["MINE:ORE-2503-001"]


# -- the page ---------------------------------------------------------------------------------------


def test_the_search_page_finds_prefixes_and_numbers(filled: Store, module_db: str) -> None:
    if not reetrace.has_admin(filled):
        reetrace.add_principal(filled, "admin", "admin")
    reetrace.add_principal(filled, "inspector", "inspector")
    token = reetrace.issue_token(filled, "inspector").token
    server = start_server(module_db)
    try:
        with httpx.Client(base_url=server.url, cookies={"reetrace_session": token}, timeout=60) as client:

            def shown(query: str) -> list[str]:
                resp = client.get(f"/search?{query}")
                assert resp.status_code == 200, resp.text
                return [lot for lot in [*ORE, "IMP:MM-ION-0311"] if f">{lot}</a>" in resp.text]

            assert shown("q=ore") == ORE
            assert shown("q=wb-77-Q") == ["MINE:ORE-2503-001"]
            assert shown("q=530420250311001") == ["IMP:MM-ION-0311"]
            assert shown("q=ore&enterprise=MINE2&period=2025-04&form=ore") == MINE2_LOTS
            resp = client.get("/search?q=ore-2530-001")
            assert "MINE:ORE-2503-001" in resp.text  # did you mean
    finally:
        server.stop()
