"""The store contract, run on every backend (SQLite file and a throwaway PostgreSQL database).

Appends, idempotency, conflicts, atomicity, append-only triggers, tamper detection, checkpoints,
concurrent submitters and a killed import.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from reetrace.errors import InputError, Refused, VerificationFailed
from reetrace.intake.submit import submit
from reetrace.store import Store, open_store
from reetrace.store.schema import FACT_TABLES
from reetrace.store.verify import Checkpoint, checkpoint, verify
from tests.builders import BAYAN_OBO, ev, inp, load_registry, out, submit_events, write_jsonl


def mine_month(n: int, prefix: str = "m", day: int = 2) -> list[dict[str, Any]]:
    """n extract events of the MINE, each creating one concentrate lot, then one ship."""
    evs = [
        ev(f"{prefix}{i}", "extract", "MINE", "BO", f"2025-03-{day:02d}",
           outputs=[out(f"{prefix.upper()}ORE{i}", "concentrate", 1000 + i, reo_pct=50,
                        elements=BAYAN_OBO)])
        for i in range(n)
    ]  # fmt: skip
    return evs


def count(store: Store, table: str) -> int:
    with store.reading() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_append_assigns_consecutive_positions(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    before, _ = store.head()
    r = submit_events(store, tmp_path, "MINE", "2025-03", mine_month(5))
    assert r.new_events == 5 and r.position == before + 1
    after, _ = store.head()
    assert after == before + 6  # the envelope and five events
    assert count(store, "events") == 5 and count(store, "lots") == 5
    verify(store)


def test_identical_resubmission_is_a_noop(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    submit_events(store, tmp_path, "MINE", "2025-03", mine_month(3))
    head = store.head()
    again = submit_events(store, tmp_path, "MINE", "2025-03", mine_month(3))
    assert again.noop and again.unchanged_events == 3
    assert "nothing changed" in again.message()
    assert store.head() == head


def test_resubmission_with_one_more_event_appends_only_it(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    submit_events(store, tmp_path, "MINE", "2025-03", mine_month(3))
    r = submit_events(store, tmp_path, "MINE", "2025-03", mine_month(4))
    assert (r.new_events, r.unchanged_events) == (1, 3)
    assert count(store, "events") == 4
    verify(store)


def test_reused_event_id_with_other_content_is_a_conflict(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    first = submit_events(store, tmp_path, "MINE", "2025-03", mine_month(2))
    changed = mine_month(2)
    changed[1]["outputs"][0]["mass_kg"] = 999_999
    head = store.head()
    with pytest.raises(InputError) as err:
        submit_events(store, tmp_path, "MINE", "2025-03", changed)
    [p] = err.value.problems
    assert p.line == 2 and p.field == "event_id"
    assert "conflict" in p.reason and f"position {first.position + 2}" in p.reason
    assert store.head() == head


def test_a_failure_midway_writes_nothing(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    evs = mine_month(50)
    evs[45]["outputs"][0]["mass_kg"] = -5  # a bad record after several batches were flushed
    path = write_jsonl(tmp_path / "bad.jsonl", evs)
    head = store.head()
    with pytest.raises(InputError) as err:
        submit(store, str(path), enterprise="MINE", period="2025-03", batch=7)
    assert [(p.line, p.field) for p in err.value.problems] == [(46, "outputs[0].mass_kg")]
    assert store.head() == head
    assert count(store, "events") == 0 and count(store, "submissions") == 0


def test_every_error_is_reported_not_just_the_first(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    evs = mine_month(4)
    evs[0]["outputs"][0]["reo_pct"] = 150
    evs[1]["site"] = "NOWHERE"
    evs[2]["outputs"][0]["elements"] = {"La": 50, "Xx": 50}
    evs[3]["occurred_at"] = "2025-04-02T10:00:00+08:00"
    path = tmp_path / "bad.jsonl"
    write_jsonl(path, evs)
    path.write_bytes(path.read_bytes() + b"{not json\n")
    with pytest.raises(InputError) as err:
        submit(store, str(path), enterprise="MINE", period="2025-03")
    got = [(p.line, p.field) for p in err.value.problems]
    assert got == [
        (1, "outputs[0].reo_pct"),
        (2, "site"),
        (3, "outputs[0].elements.Xx"),
        (4, "occurred_at"),
        (5, "event"),
    ]
    assert all(p.file == str(path) for p in err.value.problems)


def fill_every_table(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    submit_events(store, tmp_path, "MINE", "2025-03", [
        *mine_month(2),
        ev("p1", "process", "MINE", "BO", "2025-03-04", process="beneficiation",
           inputs=[inp("MORE0", 1000)], outputs=[out("CONC", "concentrate", 800, reo_pct=60)],
           documents={"contract": "C-2503-1"}),
        ev("r1", "retract", "MINE", "BO", "2025-03-05", retracts="m1", reason="typo"),
    ])  # fmt: skip
    for t in FACT_TABLES:
        assert count(store, t.name) > 0, t.name


FACT_TABLES_BY_NAME = {t.name: t for t in FACT_TABLES}


@pytest.mark.parametrize("table", [t.name for t in FACT_TABLES])
def test_database_refuses_update_and_delete(store: Store, tmp_path: Path, table: str) -> None:
    fill_every_table(store, tmp_path)
    col = next(iter(FACT_TABLES_BY_NAME[table].columns)).name
    for stmt in (f'UPDATE "{table}" SET "{col}" = "{col}"', f'DELETE FROM "{table}"'):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(sa.text(stmt))
    if store.dialect == "postgresql":
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(sa.text(f'TRUNCATE "{table}"'))


def test_refusal_maps_to_store_error(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    with pytest.raises(Refused), store.appending() as app:
        app.conn.execute(sa.text("DELETE FROM groups"))


def _tamper(store: Store, sql: str) -> None:
    """Edit behind the store's back, as an attacker with owner rights would: triggers off first."""
    with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            table = sql.split()[1] if sql.startswith("UPDATE") else sql.split()[2]
            conn.execute(sa.text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            conn.execute(sa.text(sql))
            conn.execute(sa.text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
        else:
            names = [
                r[0] for r in conn.execute(sa.text("SELECT name FROM sqlite_master WHERE type='trigger'"))
            ]
            ddl = [r[0] for r in conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE type='trigger'"))]
            for n in names:
                conn.execute(sa.text(f"DROP TRIGGER {n}"))
            conn.execute(sa.text(sql))
            for d in ddl:
                conn.execute(sa.text(d))


def _filled(store: Store, tmp_path: Path) -> int:
    load_registry(store)
    r = submit_events(store, tmp_path, "MINE", "2025-03", mine_month(3))
    verify(store)
    assert r.position is not None
    return r.position


@pytest.mark.parametrize(
    ("sql", "offset", "reason"),
    [
        ("UPDATE log SET body = CAST(REPLACE(CAST(body AS TEXT), '1001', '9001') AS {blob}) "
         "WHERE position = {p}", 2, "chain link"),
        ("UPDATE lots SET mass_kg = mass_kg * 2 WHERE position = {p}", 3, "lots row differs"),
        ("UPDATE events SET occurred_at = occurred_at WHERE position = -1", None, None),
        ("DELETE FROM edges WHERE position >= 0", None, None),
        ("DELETE FROM lots WHERE position = {p}", 1, "lots is missing"),
        ("INSERT INTO inputs (position, idx, lot, holder, mass_kg) VALUES ({p}, 0, 'X:Y', 'X', 1)",
         0, "inputs has an extra row"),
        ("DELETE FROM log WHERE position = {p}", 1, "position {p} is missing"),
        ("DELETE FROM log WHERE position = {p}", 3, "no record explains"),
    ],
)  # fmt: skip
def test_tampering_is_caught_at_the_right_position(
    store: Store, tmp_path: Path, sql: str, offset: int | None, reason: str | None
) -> None:
    env = _filled(store, tmp_path)
    blob = "BYTEA" if store.dialect == "postgresql" else "BLOB"
    if store.dialect == "postgresql":
        sql = sql.replace("CAST(body AS TEXT)", "convert_from(body, 'UTF8')").replace(
            "CAST(REPLACE(convert_from(body, 'UTF8'), '1001', '9001') AS BYTEA)",
            "convert_to(REPLACE(convert_from(body, 'UTF8'), '1001', '9001'), 'UTF8')",
        )
    _tamper(store, sql.format(p=env + (offset or 0), blob=blob))
    if reason is None:  # an edit that changes nothing (no rows) must not be reported
        verify(store)
        return
    with pytest.raises(VerificationFailed) as err:
        verify(store)
    assert err.value.position == env + offset  # type: ignore[operator]
    assert reason.format(p=env + (offset or 0)) in err.value.reason


def test_checkpoint_proves_the_log_extends_it(store: Store, tmp_path: Path) -> None:
    _filled(store, tmp_path)
    cp = checkpoint(store)
    april = [ev("n1", "extract", "MINE", "BO", "2025-04-02",
                outputs=[out("NORE1", "ore", 10, reo_pct=5, elements=BAYAN_OBO)])]  # fmt: skip
    submit_events(store, tmp_path, "MINE", "2025-04", april, received_at="2025-05-05T10:00:00+08:00")
    assert verify(store, against=cp).checkpoint_ok
    with pytest.raises(VerificationFailed, match="checkpoint"):
        verify(store, against=Checkpoint(cp.position, "00" * 32))
    with pytest.raises(VerificationFailed, match="history was removed"):
        verify(store, against=Checkpoint(cp.position + 100, cp.hash))


# -- concurrency ------------------------------------------------------------------------------------


def _submit_worker(url: str, path: str, enterprise: str, period: str) -> None:
    store = open_store(url)
    submit(store, path, enterprise=enterprise, period=period,
           received_at=datetime.fromisoformat("2025-04-02T10:00:00+08:00"), batch=5)  # fmt: skip
    store.dispose()


@pytest.mark.slow
def test_concurrent_submitters_never_interleave(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    load_registry(store)
    jobs = []
    for k, month in enumerate(["2025-01", "2025-02", "2025-03", "2025-04", "2025-05", "2025-06"]):
        evs = [
            ev(f"c{k}-{i}", "extract", "MINE", "BO", f"{month}-0{1 + i % 9}",
               outputs=[out(f"C{k}-{i}", "ore", 100 + i, reo_pct=4, elements=BAYAN_OBO)])
            for i in range(40)
        ]  # fmt: skip
        jobs.append((str(write_jsonl(tmp_path / f"c{k}.jsonl", evs)), month))
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_submit_worker, args=(db_url, p, "MINE", m)) for p, m in jobs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert count(store, "events") == 240 and count(store, "submissions") == 6
    with store.reading() as conn:
        spans = conn.execute(sa.text(
            "SELECT submission, min(position), max(position), count(*) FROM events GROUP BY submission"
        )).all()  # fmt: skip
    for sub, lo, hi, n in spans:
        assert (lo, hi, n) == (sub + 1, sub + 40, 40)  # contiguous right after its envelope
    verify(store)
    store.dispose()


def _slow_worker(url: str, path: str, marker: str) -> None:
    store = open_store(url)
    seen = 0

    def progress(n: int) -> None:
        nonlocal seen
        seen += n
        if seen > 20_000 and not os.path.exists(marker):
            Path(marker).write_text("writing")
            time.sleep(60)  # killed here, in the middle of the transaction

    submit(store, path, enterprise="MINE", period="2025-03", progress=progress, batch=20)


@pytest.mark.slow
def test_a_killed_import_leaves_nothing_behind(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    load_registry(store)
    head = store.head()
    path = write_jsonl(tmp_path / "big.jsonl", mine_month(400))
    marker = tmp_path / "marker"
    proc = mp.get_context("spawn").Process(target=_slow_worker, args=(db_url, str(path), str(marker)))
    proc.start()
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the worker never got into its transaction"
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(30)
    # Rows were written inside the transaction before the kill; none may be visible now.
    store.dispose()
    store = open_store(db_url)
    assert store.head() == head
    assert count(store, "events") == 0
    verify(store)
    r = submit(store, str(path), enterprise="MINE", period="2025-03")  # and the store still takes writes
    assert r.new_events == 400
    store.dispose()


def test_verify_does_not_depend_on_listing_order_or_collation(store: Store, tmp_path: Path) -> None:
    # Element shares listed out of canonical order, and several edges in one event whose lot names
    # sort differently by byte and by locale: verify must re-derive exactly what the writer stored.
    load_registry(store)
    odd = {
        "Y": 0.4,
        "Dy": 0.1,
        "Tb": 0.1,
        "Gd": 0.7,
        "Eu": 0.2,
        "Sm": 0.8,
        "Nd": 18.5,
        "Pr": 6.2,
        "Ce": 50.0,
        "La": 23.0,
    }
    submit_events(store, tmp_path, "MINE", "2025-03", [
        ev("m1", "extract", "MINE", "BO", "2025-03-02", outputs=[
            out("b-ore", "ore", 1000.1, reo_pct=3.3, elements=odd),
            out("A-ore", "ore", 999.7, reo_pct=3.1, elements=odd)]),
        ev("p1", "process", "MINE", "BO", "2025-03-03", process="beneficiation",
           inputs=[inp("b-ore", 1000.1), inp("A-ore", 999.7)],
           outputs=[out("z-conc", "concentrate", 60.3, reo_pct=50.1, elements=odd),
                    out("Y-conc", "concentrate", 58.9, reo_pct=49.7, elements=odd)]),
    ])  # fmt: skip
    assert count(store, "edges") == 4
    verify(store)


def test_event_frame_is_the_generic_frame() -> None:
    from reetrace.store import chain

    record = chain.canonical({"b": 1.5, "a": "x:y", "ü": [1, 2]})
    assert chain.event_frame(7, record, 12, 3) == chain.frame("event", 7, record, line=12, submission=3)
