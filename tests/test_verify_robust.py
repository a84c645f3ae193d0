"""verify cannot be fooled: every failure is reported, the schema objects trace and audit depend on are
checked, an empty log explains no rows, and very large events are compared in bounded memory."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from reetrace.errors import VerificationFailed
from reetrace.store import Store
from reetrace.store.verify import LARGE, verify
from tests.builders import BAYAN_OBO, ev, inp, load_registry, out, submit_events
from tests.test_store_contract import _tamper, mine_month


def test_every_failure_is_reported_not_just_the_first(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    r = submit_events(store, tmp_path, "MINE", "2025-03", mine_month(6))
    env = r.position
    assert env is not None
    _tamper(store, f"UPDATE lots SET mass_kg = mass_kg * 2 WHERE position = {env + 1}")
    _tamper(store, f"UPDATE lots SET lot = 'MINE:FORGED' WHERE position = {env + 5}")
    with pytest.raises(VerificationFailed) as err:
        verify(store)
    assert err.value.position == env + 1 and "lots row differs" in err.value.reason
    assert [pos for pos, _ in err.value.failures] == [env + 1, env + 5]
    assert "and 1 more failure" in str(err.value)
    assert "MINE:FORGED" in err.value.report()


def test_a_broken_link_does_not_hide_later_tampering(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    r = submit_events(store, tmp_path, "MINE", "2025-03", mine_month(4))
    env = r.position
    assert env is not None
    blob = "convert_to(REPLACE(convert_from(body, 'UTF8'), '1000', '9000'), 'UTF8')"
    if store.dialect == "sqlite":
        blob = "CAST(REPLACE(CAST(body AS TEXT), '1000', '9000') AS BLOB)"
    _tamper(store, f"UPDATE log SET body = {blob} WHERE position = {env + 1}")
    _tamper(store, f"UPDATE events SET site = 'ELSEWHERE' WHERE position = {env + 3}")
    with pytest.raises(VerificationFailed) as err:
        verify(store)
    got = [(pos, reason.split(":")[0]) for pos, reason in err.value.failures]
    assert (env + 1, "stored bytes or chain link do not match") in got
    assert (env + 3, "events row differs from its record") in got


def _redefine_view(store: Store) -> None:
    # An import origin no longer counts: every trace through it would call it "unexplained".
    body = "SELECT d.* FROM edges d WHERE d.src NOT LIKE 'IMP:%'"
    with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            conn.execute(sa.text(f"CREATE OR REPLACE VIEW effective_edges AS {body}"))
        else:
            conn.execute(sa.text("DROP VIEW effective_edges"))
            conn.execute(sa.text(f"CREATE VIEW effective_edges AS {body}"))


def test_a_redefined_view_is_caught(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    submit_events(store, tmp_path, "MINE", "2025-03", mine_month(2))
    verify(store)
    _redefine_view(store)
    with pytest.raises(VerificationFailed) as err:
        verify(store)
    assert err.value.position == 0
    assert "view effective_edges differs from its migration" in err.value.reason
    assert str(err.value).startswith("schema: view effective_edges")


def test_a_dropped_or_disabled_or_added_trigger_is_caught(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            conn.execute(sa.text("ALTER TABLE lots DISABLE TRIGGER lots_append_only"))
            conn.execute(sa.text("DROP TRIGGER edges_no_truncate ON edges"))
            conn.execute(sa.text(
                "CREATE OR REPLACE FUNCTION reetrace_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RETURN NULL; END $$"
            ))  # fmt: skip
            conn.execute(sa.text(
                "CREATE TRIGGER sneaky AFTER INSERT ON log FOR EACH ROW EXECUTE FUNCTION reetrace_refuse()"
            ))  # fmt: skip
            want = {"trigger lots_append_only", "trigger edges_no_truncate", "function reetrace_refuse",
                    "trigger sneaky"}  # fmt: skip
        else:
            conn.execute(sa.text("DROP TRIGGER lots_no_update"))
            conn.execute(sa.text("DROP TRIGGER edges_no_delete"))
            conn.execute(sa.text(
                "CREATE TRIGGER edges_no_delete BEFORE DELETE ON edges BEGIN SELECT 1; END"
            ))  # fmt: skip
            conn.execute(sa.text("CREATE TRIGGER sneaky AFTER INSERT ON log BEGIN SELECT 1; END"))
            want = {"trigger lots_no_update", "trigger edges_no_delete", "trigger sneaky"}
    with pytest.raises(VerificationFailed) as err:
        verify(store)
    named = {" ".join(reason.split()[:2]) for pos, reason in err.value.failures if pos == 0}
    assert named == want


def test_an_empty_log_explains_no_rows(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO groups (position, code, name) VALUES (1, 'X', 'Forged')"))
    with pytest.raises(VerificationFailed) as err:
        verify(store)
    assert (err.value.position, err.value.reason) == (1, "the log is empty but groups has rows")


def test_a_very_large_event_is_compared_in_bounded_memory(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Above the default edge limit per event (intake/limits.py): a store that raised it, or an old one.
    monkeypatch.setenv("REETRACE_MAX_EDGES", "20000")
    load_registry(store)
    n_in, n_out = 120, 100
    assert n_in * n_out > LARGE  # the streamed comparison
    r = submit_events(store, tmp_path, "MINE", "2025-03", [
        ev("x", "extract", "MINE", "BO", "2025-03-02",
           outputs=[out(f"ORE{i}", "ore", 1000 + i, reo_pct=3, elements=BAYAN_OBO) for i in range(n_in)]),
        ev("b", "process", "MINE", "BO", "2025-03-03", process="beneficiation",
           inputs=[inp(f"ORE{i}", 1000 + i) for i in range(n_in)],
           outputs=[out(f"C{j}", "concentrate", 100 + j, reo_pct=50) for j in range(n_out)]),
    ])  # fmt: skip
    assert r.position is not None
    big = r.position + 2
    verify(store)
    _tamper(
        store,
        f"UPDATE edges SET mass_kg = 7 WHERE position = {big} AND src = 'MINE:ORE5' AND dst = 'MINE:C9'",
    )
    with pytest.raises(VerificationFailed) as err:
        verify(store)
    assert err.value.failures == [(big, f"edges rows of position {big} differ from its record")]
    _tamper(store, f"DELETE FROM edges WHERE position = {big} AND src = 'MINE:ORE6'")
    with pytest.raises(VerificationFailed) as err:
        verify(store)
    assert err.value.failures == [(big, f"edges is missing {n_out} rows of position {big}")]


def test_a_lock_function_pointed_at_another_schema_is_caught(store: Store, tmp_path: Path) -> None:
    if store.dialect != "postgresql":
        pytest.skip("the owner's lock function exists on PostgreSQL only")
    load_registry(store)
    submit_events(store, tmp_path, "MINE", "2025-03", mine_month(2))
    verify(store)  # its own schema's search path is the expected one
    with store.engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA decoy")
        conn.exec_driver_sql("ALTER FUNCTION reetrace_lock_log() SET search_path = decoy, public")
    with pytest.raises(VerificationFailed) as err:
        verify(store)
    assert any("function reetrace_lock_log differs" in r for _, r in err.value.failures)
