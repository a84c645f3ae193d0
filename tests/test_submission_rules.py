"""Rules across records and against the registry, checked before anything is committed (both backends)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from reetrace.errors import InputError, NotRegistered
from reetrace.store import Store
from reetrace.store.verify import verify
from tests.builders import BAYAN_OBO, ev, inp, load_registry, out, submit_events, write_jsonl

ORE = out("ORE1", "concentrate", 1000, reo_pct=50, elements=BAYAN_OBO)


def problems(
    store: Store, tmp_path: Path, ent: str, period: str, evs: list[dict]
) -> list[tuple[int, str, str]]:  # type: ignore[type-arg]
    head = store.head()
    with pytest.raises(InputError) as err:
        submit_events(store, tmp_path, ent, period, evs)
    assert store.head() == head, "a refused submission wrote something"
    return [(p.line, p.field, p.reason) for p in err.value.problems]


def test_own_input_lot_must_exist(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    got = problems(store, tmp_path, "MINE", "2025-03", [
        ev("s1", "ship", "MINE", "BO", "2025-03-02", counterparty="SEP", inputs=[inp("NOPE", 5)]),
    ])  # fmt: skip
    assert got == [(1, "inputs[0].lot", "MINE:NOPE does not exist: no earlier event of MINE created it")]


def test_own_lot_created_later_in_the_same_file_is_refused(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    got = problems(store, tmp_path, "MINE", "2025-03", [
        ev("s1", "ship", "MINE", "BO", "2025-03-02", counterparty="SEP", inputs=[inp("ORE1", 5)]),
        ev("m1", "extract", "MINE", "BO", "2025-03-03", outputs=[ORE]),
    ])  # fmt: skip
    assert [(line, f) for line, f, _ in got] == [(1, "inputs[0].lot")]


def test_own_lot_created_earlier_in_the_file_or_the_store_is_fine(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    submit_events(
        store, tmp_path, "MINE", "2025-03", [ev("m1", "extract", "MINE", "BO", "2025-03-02", outputs=[ORE])]
    )
    r = submit_events(store, tmp_path, "MINE", "2025-04", [
        ev("s1", "ship", "MINE", "BO", "2025-04-02", counterparty="SEP", inputs=[inp("ORE1", 500)]),
    ], received_at="2025-05-02T10:00:00+08:00")  # fmt: skip
    assert r.new_events == 1


def test_output_lot_must_be_new(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    submit_events(
        store, tmp_path, "MINE", "2025-03", [ev("m1", "extract", "MINE", "BO", "2025-03-02", outputs=[ORE])]
    )
    got = problems(store, tmp_path, "MINE", "2025-03", [
        ev("m1", "extract", "MINE", "BO", "2025-03-02", outputs=[ORE]),
        ev("m2", "extract", "MINE", "BO", "2025-03-04", outputs=[ORE]),
    ])  # fmt: skip
    assert len(got) == 1
    line, fld, reason = got[0]
    assert (line, fld) == (2, "outputs[0].lot") and "already exists (created by event m1" in reason


def test_retraction_withdraws_and_allows_a_corrected_event(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    submit_events(
        store, tmp_path, "MINE", "2025-03", [ev("m1", "extract", "MINE", "BO", "2025-03-02", outputs=[ORE])]
    )
    fixed = out("ORE1", "concentrate", 900, reo_pct=50, elements=BAYAN_OBO)
    submit_events(store, tmp_path, "MINE", "2025-04", [
        ev("r1", "retract", "MINE", "BO", "2025-04-01", retracts="m1", reason="wrong mass"),
        ev("m1b", "extract", "MINE", "BO", "2025-04-01T12:00:00+08:00", outputs=[fixed]),
    ], received_at="2025-05-02T10:00:00+08:00")  # fmt: skip
    with store.reading() as conn:
        eff = (
            conn.execute(sa.text("SELECT mass_kg FROM effective_lots WHERE lot = 'MINE:ORE1'"))
            .scalars()
            .all()
        )
        events = (
            conn.execute(sa.text("SELECT event_id FROM effective_events ORDER BY position")).scalars().all()
        )
        history = conn.execute(sa.text("SELECT count(*) FROM lots WHERE lot = 'MINE:ORE1'")).scalar()
    assert eff == [900.0] and events == ["m1b"] and history == 2
    verify(store)


@pytest.mark.parametrize(
    ("retracts", "reason"),
    [
        ("nope", "no earlier event nope of MINE"),
        ("r0", "r0 is itself a retraction"),
        ("m1", "m1 is already retracted"),
    ],
)
def test_bad_retractions(store: Store, tmp_path: Path, retracts: str, reason: str) -> None:
    load_registry(store)
    submit_events(store, tmp_path, "MINE", "2025-03", [
        ev("m1", "extract", "MINE", "BO", "2025-03-02", outputs=[ORE]),
        ev("r0", "retract", "MINE", "BO", "2025-03-03", retracts="m1", reason="x"),
    ])  # fmt: skip
    got = problems(store, tmp_path, "MINE", "2025-03", [
        ev("r9", "retract", "MINE", "BO", "2025-03-04", retracts=retracts, reason="x"),
    ])  # fmt: skip
    assert got == [(1, "retracts", reason)]


def test_an_event_closing_a_cycle_is_refused(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    # SEP receives MINE:ORE1 before MINE reports it (allowed: the sender may report later) ...
    submit_events(store, tmp_path, "SEP", "2025-03", [
        ev("r1", "receive", "SEP", "SEP-P", "2025-03-05", counterparty="MINE",
           inputs=[inp("MINE:ORE1", 1000)], outputs=[out("FEED", "concentrate", 1000, reo_pct=50)]),
        ev("s1", "ship", "SEP", "SEP-P", "2025-03-06", counterparty="MINE", inputs=[inp("FEED", 1000)]),
    ])  # fmt: skip
    # ... and MINE claims ORE1 was made from SEP's FEED: ORE1 -> SEP:FEED -> ORE1 would be a loop.
    got = problems(store, tmp_path, "MINE", "2025-03", [
        ev("r2", "receive", "MINE", "BO", "2025-03-07", counterparty="SEP",
           inputs=[inp("SEP:FEED", 1000)], outputs=[out("ORE1", "concentrate", 1000, reo_pct=50)]),
    ])  # fmt: skip
    assert len(got) == 1 and got[0][:2] == (1, "inputs") and "cycle" in got[0][2]


def test_unregistered_reporter_is_refused(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    with pytest.raises(NotRegistered, match="GHOST"):
        submit_events(store, tmp_path, "GHOST", "2025-03", [])


def test_unknown_counterparty_is_recorded_for_the_audit(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    r = submit_events(store, tmp_path, "SEP", "2025-03", [
        ev("r1", "receive", "SEP", "SEP-P", "2025-03-05", counterparty="SMUGGLER",
           inputs=[inp("SMUGGLER:X1", 500)], outputs=[out("IN1", "mixed_compound", 500, reo_pct=90)]),
    ])  # fmt: skip
    assert r.new_events == 1


def test_events_of_another_enterprise_or_site_or_period(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    got = problems(store, tmp_path, "MINE", "2025-03", [
        ev("a", "extract", "MINE2", "SC", "2025-03-02", outputs=[ORE]),
        ev("b", "extract", "MINE", "SEP-P", "2025-03-02", outputs=[out("O2", "ore", 5, reo_pct=3)]),
        ev("c", "extract", "MINE", "BO", "2025-02-28T23:00:00+08:00", outputs=[out("O3", "ore", 5, reo_pct=3)]),
    ])  # fmt: skip
    assert [(line, f) for line, f, _ in got] == [(1, "enterprise"), (2, "site"), (3, "occurred_at")]


def test_nil_report_and_lateness(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    on_time = submit_events(store, tmp_path, "MAG", "2025-03", [], received_at="2025-04-10T23:59:59+08:00")
    late = submit_events(store, tmp_path, "MET", "2025-03", [], received_at="2025-04-11T00:00:00+08:00")
    assert not on_time.late and late.late and on_time.position is not None
    assert "nil report" in on_time.message() and "LATE" in late.message()
    again = submit_events(store, tmp_path, "MAG", "2025-03", [])
    assert again.noop
    with store.reading() as conn:
        rows = conn.execute(sa.text("SELECT enterprise, late FROM submissions ORDER BY position")).all()
    assert [(e, bool(x)) for e, x in rows] == [("MAG", False), ("MET", True)]


def test_duplicate_event_id_within_a_file(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    from reetrace.intake.submit import submit

    evs = [
        ev(f"m{i}", "extract", "MINE", "BO", "2025-03-02", outputs=[out(f"O{i}", "ore", 5, reo_pct=3)])
        for i in range(6)
    ]
    evs.append(ev("m1", "extract", "MINE", "BO", "2025-03-03", outputs=[out("OX", "ore", 5, reo_pct=3)]))
    path = write_jsonl(tmp_path / "dup.jsonl", evs)
    for batch in (2, 100):  # across batches and within one
        with pytest.raises(InputError) as err:
            submit(store, str(path), enterprise="MINE", period="2025-03", batch=batch)
        assert [(p.line, p.field, p.reason) for p in err.value.problems] == [
            (7, "event_id", "m1 repeats line 2")
        ]


def test_repeats_and_unchanged_events_in_the_very_next_batch(store: Store, tmp_path: Path) -> None:
    # Each batch's ids are looked up in what the batches before it wrote (still in the transaction,
    # written in the background on PostgreSQL): a repeat in the very next batch is found, an event
    # recorded before is unchanged or a conflict, whatever the batch boundaries.
    load_registry(store)
    from reetrace.intake.submit import submit

    evs = [
        ev(f"m{i}", "extract", "MINE", "BO", "2025-03-02", outputs=[out(f"O{i}", "ore", 5, reo_pct=3)])
        for i in range(6)
    ]
    repeat_a = ev("m2", "extract", "MINE", "BO", "2025-03-03", outputs=[out("OX", "ore", 5, reo_pct=3)])
    repeat_b = ev("m4", "extract", "MINE", "BO", "2025-03-03", outputs=[out("OY", "ore", 5, reo_pct=3)])
    # Batches of 3: lines 1-3, 4-6, 7-9. m2 (line 3) repeats at line 4, m4 (line 6) at line 7.
    bad = write_jsonl(tmp_path / "bad.jsonl", [*evs[:3], repeat_a, evs[3], evs[4], repeat_b, evs[5]])
    with pytest.raises(InputError) as err:
        submit(store, str(bad), enterprise="MINE", period="2025-03", batch=3)
    assert [(p.line, p.field, p.reason) for p in err.value.problems] == [
        (4, "event_id", "m2 repeats line 3"),
        (7, "event_id", "m4 repeats line 6"),
    ]
    assert _no_events(store)  # nothing of the refused file was written

    first = submit(store, str(write_jsonl(tmp_path / "one.jsonl", evs)), enterprise="MINE",
                   period="2025-03", batch=2)  # fmt: skip
    assert (first.new_events, first.unchanged_events) == (6, 0)
    more = ev("m6", "extract", "MINE", "BO", "2025-03-04", outputs=[out("O6", "ore", 5, reo_pct=3)])
    again = submit(store, str(write_jsonl(tmp_path / "two.jsonl", [*evs, more])), enterprise="MINE",
                   period="2025-03", batch=2)  # fmt: skip
    assert (again.new_events, again.unchanged_events) == (1, 6)
    changed = ev("m3", "extract", "MINE", "BO", "2025-03-05", outputs=[out("O3", "ore", 6, reo_pct=3)])
    with pytest.raises(InputError) as err:
        submit(store, str(write_jsonl(tmp_path / "three.jsonl", [*evs[:3], changed])), enterprise="MINE",
               period="2025-03", batch=3)  # fmt: skip
    assert [(p.line, p.field) for p in err.value.problems] == [(4, "event_id")]
    assert err.value.problems[0].reason.startswith("conflict: m3 is already recorded at position")
    verify(store)  # raises if the chain or the derived rows are off


@pytest.mark.parametrize("held", [None, 2])
@pytest.mark.parametrize("batch", [1, 2, 3])
def test_a_repeat_is_found_at_any_distance_in_batches(
    store: Store, tmp_path: Path, batch: int, held: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The writer looks a batch's ids up once the batch before last is in, and holds the last batch's
    # ids itself (pipelined writes); on PostgreSQL it holds every id it wrote up to MAX_HELD_IDS and
    # looks up only what was recorded before, on a second connection. A repeat 1, 2, 3 ... batches on
    # is found whichever way, before and after the bound (``held``) is passed.
    from reetrace.intake import writer
    from reetrace.intake.submit import submit

    if held is not None:
        monkeypatch.setattr(writer, "MAX_HELD_IDS", held)
    load_registry(store)

    evs = [
        ev(f"m{i}", "extract", "MINE", "BO", "2025-03-02", outputs=[out(f"O{i}", "ore", 5, reo_pct=3)])
        for i in range(9)
    ]
    for gap in range(1, 9):  # the repeat of line 1 sits at line 1 + gap
        again = ev("m0", "extract", "MINE", "BO", "2025-03-03", outputs=[out("OX", "ore", 5, reo_pct=3)])
        path = write_jsonl(tmp_path / f"gap{gap}.jsonl", [*evs[:gap], again, *evs[gap:]])
        with pytest.raises(InputError) as err:
            submit(store, str(path), enterprise="MINE", period="2025-03", batch=batch)
        assert [(p.line, p.field, p.reason) for p in err.value.problems] == [
            (1 + gap, "event_id", "m0 repeats line 1")
        ], gap
    assert _no_events(store)


def test_a_site_moved_while_the_file_is_read(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Phase 1 checked each record's site against the registry without the lock; the registry gives
    # site BO to another enterprise before phase 2 takes it. The registry read under the lock decides:
    # every line at BO is refused as phase 1 would have refused it, nothing is written.
    import copy

    import reetrace.intake.submit as submitting
    from reetrace.intake.registry import load
    from reetrace.models import Registry
    from tests.builders import REGISTRY

    load_registry(store)
    moved = copy.deepcopy(REGISTRY)
    moved["sites"] = [dict(x, enterprise="MINE2") if x["code"] == "BO" else x for x in moved["sites"]]
    spool_of = submitting.Spool.of

    def of(items: Any) -> Any:
        spool = spool_of(items)
        load(store, Registry.model_validate(moved))
        return spool

    monkeypatch.setattr(submitting.Spool, "of", of)
    evs = [
        ev(f"m{i}", "extract", "MINE", "BO", "2025-03-02", outputs=[out(f"O{i}", "ore", 5, reo_pct=3)])
        for i in range(3)
    ]
    with pytest.raises(InputError) as err:
        submitting.submit(store, str(write_jsonl(tmp_path / "m.jsonl", evs)), enterprise="MINE",
                          period="2025-03")  # fmt: skip
    assert [(p.line, p.field, p.reason) for p in err.value.problems] == [
        (n, "site", "BO is not a registered site of MINE") for n in (1, 2, 3)
    ]
    assert _no_events(store)


def _no_events(store: Store) -> bool:
    with store.reading() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one() == 0


class _Exploding:
    """A stream that fails after its first line, as a dying disk would."""

    def __init__(self) -> None:
        self.lines = [b'{"event_id": "x"}\n']

    def __iter__(self) -> _Exploding:
        return self

    def __next__(self) -> bytes:
        return self.readline()

    def readline(self, n: int = -1) -> bytes:
        if self.lines:
            return self.lines.pop()
        raise OSError("read error")

    def read(self, n: int = -1) -> bytes:
        raise OSError("read error")


def test_a_failing_parser_process_fails_the_submission() -> None:
    from datetime import datetime

    from reetrace.intake.parser import RecordRules as _Rules
    from reetrace.intake.parser import prepared_in_worker as _prepared_in_worker
    from reetrace.periods import SHANGHAI

    rules = _Rules("MINE", frozenset({"BO"}), "2025-03", datetime(2025, 3, 1, tzinfo=SHANGHAI),
                   datetime(2025, 4, 1, tzinfo=SHANGHAI))  # fmt: skip
    with pytest.raises(RuntimeError, match="parser process failed: OSError: read error"):
        list(_prepared_in_worker(_Exploding(), "jsonl", "f", rules, None))


def test_the_id_look_up_reads_the_id_index_whatever_the_plan(store: Store, tmp_path: Path) -> None:
    # Each batch's ids are looked up in (enterprise, event_id), one probe per id. Two plans that did
    # not were met: PostgreSQL's generic plan (used once psycopg prepares the statement) for
    # ``event_id = ANY(:ids)`` read all the enterprise's events and compared each with every id, and
    # SQLite, given an inner join, walked the events and scanned the ids for each.
    from reetrace.intake.writer import lookup_query

    load_registry(store)
    evs = [
        ev(f"m{i}", "extract", "MINE", "BO", "2025-03-02", outputs=[out(f"O{i}", "ore", 5, reo_pct=3)])
        for i in range(50)
    ]
    submit_events(store, tmp_path, "MINE", "2025-03", evs)
    q = lookup_query(store.sql)
    params = {"ent": "MINE", "ids": store.sql.array([f"m{i}" for i in range(0, 50, 7)])}
    with store.reading() as conn:
        assert len(conn.execute(q, params).all()) == 8
        if store.dialect == "postgresql":
            conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
            plan = "\n".join(r[0] for r in conn.execute(sa.text(f"EXPLAIN {q.text}"), params))
            conn.exec_driver_sql("RESET plan_cache_mode")
            assert "ix_events_enterprise_event_id" in plan and "Nested Loop" in plan, plan
        else:
            plan = "\n".join(
                str(r[-1]) for r in conn.execute(sa.text(f"EXPLAIN QUERY PLAN {q.text}"), params)
            )
            lines = plan.splitlines()
            assert "ix_events_enterprise_event_id" in lines[-1] and "SEARCH e" in lines[-1], plan
