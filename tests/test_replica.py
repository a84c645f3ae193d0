"""``reetrace serve --db PRIMARY --read-db REPLICA`` over a real PostgreSQL streaming replica.

The pair is private to this module (``tests/replica_helpers.py``): the machine's server cannot be a
replication primary. The replica is made to lag deterministically by pausing its WAL replay
(``pg_wal_replay_pause()``), never by waiting for time to pass: whatever a read endpoint answers while
replay is paused comes from the replica, whatever shows the new data comes from the primary. If the pair
cannot be started the tests fail; they are never skipped.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest

import reetrace
from reetrace.web.session import COOKIE
from tests.replica_helpers import Replication, streaming_replica
from tests.service_helpers import Server, World, build_world, extract_month, head, start_server, verify_db

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture(scope="module")
def replication() -> Iterator[Replication]:
    with streaming_replica() as pair:
        yield pair


@pytest.fixture(scope="module")
def world(replication: Replication) -> World:
    built = build_world(replication.create_database("reetrace"))
    replication.catch_up()
    return built


@pytest.fixture(scope="module")
def replica_url(replication: Replication, world: World) -> str:
    return f"{replication.replica}/reetrace"


@pytest.fixture(scope="module")
def server(world: World, replica_url: str) -> Iterator[Server]:
    srv = start_server(world.db, read_db=replica_url)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def paused(replication: Replication) -> Iterator[None]:
    """Replay paused on the replica for the test; resumed and caught up afterwards, on failure too."""
    replication.pause()
    try:
        yield
    finally:
        replication.resume()
        replication.catch_up()


def _lot(c: httpx.Client, ref: str) -> int:
    return c.get(f"/v1/lots/{ref}").status_code


def _page(server: Server, token: str, path: str) -> httpx.Response:
    with httpx.Client(base_url=server.url, cookies={COOKIE: token}, timeout=60) as c:
        return c.get(path, headers={"Accept-Language": "en"})


def test_the_fixture_runs_a_streaming_replica_that_refuses_writes(
    replication: Replication, world: World
) -> None:
    with replication.admin("replica", "reetrace") as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction, match="read-only transaction"):
            conn.execute("CREATE TABLE h_replica_probe (x int)")
    with replication.admin() as conn:
        row = conn.execute("SELECT state FROM pg_stat_replication").fetchone()
    assert row == ("streaming",)


def test_health_reports_both_databases(server: Server, world: World, paused: None) -> None:
    before = httpx.get(f"{server.url}/health", timeout=30).json()
    assert before["status"] == "ok" and before["read_database"]["database"] is True
    assert before["read_database"]["behind"] == 0
    with server.client(world.tokens["admin"]) as c:
        r = c.post("/v1/principals", json={"name": "health-probe", "role": "inspector"})
        assert r.status_code == 201, r.text
    after = httpx.get(f"{server.url}/health", timeout=30).json()
    assert after["position"] == before["position"] + 1
    assert after["read_database"] == {"database": True, "position": before["position"], "behind": 1}


def test_reads_come_from_the_replica_receipts_and_writes_from_the_primary(
    server: Server, world: World, replication: Replication, paused: None
) -> None:
    tok = world.tokens
    lot = "NMMINE:lag-LOT-0"
    assert replication.paused()
    with server.client(tok["admin"]) as admin:
        # Writes go to the primary while the replica replays nothing: a submission, a principal, a token.
        r = admin.post(
            "/v1/submissions?enterprise=NMMINE&period=2025-10", content=extract_month("2025-10", "lag")
        )
        assert r.status_code == 201, r.text
        pos = r.json()["position"]
        assert admin.get(f"/v1/submissions/{pos}").json()["position"] == pos  # read-your-writes
        r = admin.post(
            "/v1/principals", json={"name": "mine-1", "role": "enterprise", "enterprise": "NMMINE"}
        )
        assert r.status_code == 201, r.text
        mine = admin.post("/v1/tokens", json={"principal": "mine-1"}).json()
        r = admin.post("/v1/principals", json={"name": "inspector-lag", "role": "inspector"})
        fresh = admin.post("/v1/tokens", json={"principal": "inspector-lag"}).json()
    assert head(world.db)[0] > pos
    with server.client(mine["token"]) as ent:
        # The enterprise, authenticated on the primary with a token the replica has not seen, submits
        # and reads back its own receipt and its list of submissions at once.
        r = ent.post(
            "/v1/submissions?enterprise=NMMINE&period=2025-11", content=extract_month("2025-11", "own")
        )
        assert r.status_code == 201, r.text
        own = r.json()["position"]
        assert ent.get(f"/v1/submissions/{own}").status_code == 200
        listed = ent.get("/v1/submissions?period=2025-11").json()["submissions"]
        assert [s["position"] for s in listed] == [own]

    # Reads go to the replica, which has not replayed any of that.
    with server.client(fresh["token"]) as ins:  # a token the replica does not know either
        assert _lot(ins, lot) == 404
        assert ins.get("/v1/lots", params={"prefix": "NMMINE:lag"}).json()["lots"] == []
        assert ins.get(f"/v1/lots/{lot}/trace").status_code == 404
        assert (
            ins.get("/v1/events", params={"enterprise": "NMMINE", "period": "2025-10"}).json()["events"] == []
        )
        assert ins.get("/v1/submissions?period=2025-10").json()["submissions"] == []
        status = {r["enterprise"]: r for r in ins.get("/v1/submissions/status?period=2025-11").json()["rows"]}
        assert status["NMMINE"]["submissions"] == 0
        audit = ins.get("/v1/audit", params={"from": "2025-10", "to": "2025-11"}).json()
        assert not [f for f in audit["findings"] if "NMMINE:lag-LOT-0" in f["lots"]]
        assert _page(server, fresh["token"], f"/lots/{lot}").status_code == 404
    with server.client(tok["admin"]) as admin:
        assert "mine-1" not in [p["name"] for p in reetrace_principals_on(replication)]
        assert admin.get("/v1/principals").status_code == 200  # principals are managed on the primary

    replication.resume()
    replication.catch_up()
    with server.client(fresh["token"]) as ins:
        assert _lot(ins, lot) == 200
        assert [x["lot"] for x in ins.get("/v1/lots", params={"prefix": "NMMINE:lag"}).json()["lots"]] == [
            lot
        ]
        assert ins.get(f"/v1/lots/{lot}/trace").status_code == 200
        assert (
            len(ins.get("/v1/events", params={"enterprise": "NMMINE", "period": "2025-10"}).json()["events"])
            == 1
        )
        assert [s["position"] for s in ins.get("/v1/submissions?period=2025-10").json()["submissions"]] == [
            pos
        ]
        status = {r["enterprise"]: r for r in ins.get("/v1/submissions/status?period=2025-11").json()["rows"]}
        assert status["NMMINE"]["submissions"] == 1
        page = _page(server, fresh["token"], f"/lots/{lot}")
        assert page.status_code == 200 and lot in page.text
    assert verify_db(world.db) == head(world.db)[0]


def reetrace_principals_on(replication: Replication) -> list[dict[str, object]]:
    """The principals as the replica has them (through the library, read-only)."""
    store = reetrace.open_store(f"{replication.replica}/reetrace", read_only=True)
    try:
        return reetrace.list_principals(store)
    finally:
        store.dispose()


def test_a_replica_that_is_down_makes_reads_503_and_writes_still_work(
    server: Server, world: World, replication: Replication
) -> None:
    tok = world.tokens
    replication.stop_replica()
    try:
        with server.client(tok["inspector"]) as ins:
            for path in (
                "/v1/lots/NBMAG:MAG-2503-0042",
                "/v1/lots?prefix=NBMAG",
                "/v1/audit",
                "/v1/registry",
            ):
                r = ins.get(path)
                assert r.status_code == 503, (path, r.text)
                assert r.headers["content-type"] == "application/problem+json"
                assert r.json()["detail"] == "the read replica does not answer; retry later"
                assert r.headers["retry-after"] == "5"
        page = _page(server, tok["inspector"], "/lots/NBMAG:MAG-2503-0042")
        assert page.status_code == 503 and "The read replica does not answer." in page.text
        health = httpx.get(f"{server.url}/health", timeout=30)
        assert health.status_code == 200  # the primary answers: the host still takes writes
        assert health.json()["status"] == "degraded"
        assert health.json()["read_database"] == {"database": False, "detail": "Unavailable"}
        with server.client(tok["admin"]) as admin:
            r = admin.post(
                "/v1/submissions?enterprise=NMMINE&period=2025-12", content=extract_month("2025-12", "dn")
            )
            assert r.status_code == 201, r.text
            assert admin.get(f"/v1/submissions/{r.json()['position']}").status_code == 200
            assert admin.post("/v1/tokens", json={"principal": "inspector-1"}).status_code == 201
        # A service started while the replica is down starts, and says the same.
        other = start_server(world.db, read_db=f"{replication.replica}/reetrace")
        try:
            with other.client(tok["inspector"]) as ins:
                assert ins.get("/v1/lots/NBMAG:MAG-2503-0042").status_code == 503
            assert "Traceback" not in other.text_log()
        finally:
            other.stop()
    finally:
        replication.start_replica()
        replication.catch_up()
    with server.client(tok["inspector"]) as ins:
        assert ins.get("/v1/lots/NBMAG:MAG-2503-0042").status_code == 200
        assert _lot(ins, "NMMINE:dn-LOT-0") == 200
    assert httpx.get(f"{server.url}/health", timeout=30).json()["status"] == "ok"
    assert "Traceback" not in server.text_log()


def test_a_read_the_replica_breaks_off_answers_503(
    server: Server, world: World, replication: Replication
) -> None:
    """A connection lost in the middle of a read (here: terminated on the replica while the read waits
    for a lock the primary holds and the replica replays) is a 503 to retry, not a 500."""
    import concurrent.futures

    lot = "NBMAG:MAG-2503-0042"
    with replication.admin(dbname="reetrace") as primary:
        primary.execute("BEGIN")
        primary.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")  # replayed on the replica
        try:
            replication.catch_up()
            with (
                concurrent.futures.ThreadPoolExecutor(1) as pool,
                server.client(world.tokens["inspector"]) as ins,
                replication.admin("replica") as replica,
            ):
                pending = pool.submit(ins.get, f"/v1/lots/{lot}")
                waiting = (
                    "SELECT pid FROM pg_stat_activity WHERE datname = 'reetrace' AND wait_event_type = 'Lock'"
                )
                pids: list[tuple[object, ...]] = []
                for _ in range(600):  # bounded: the read reaches the lock within a minute
                    pids = replica.execute(waiting).fetchall()
                    if pids or pending.done():
                        break
                    time.sleep(0.1)
                assert pids, "the read never waited on the replica"
                for (pid,) in pids:
                    replica.execute("SELECT pg_terminate_backend(%s)", (pid,))
                r = pending.result(timeout=120)
        finally:
            primary.execute("ROLLBACK")
    assert r.status_code == 503, r.text
    assert r.json()["detail"] == "the database could not answer this request; retry later"
    assert r.headers["retry-after"] == "5"
    replication.catch_up()
    with server.client(world.tokens["inspector"]) as ins:
        assert _lot(ins, lot) == 200


def test_a_read_only_store_is_never_migrated_nor_appended_to(replication: Replication, world: World) -> None:
    blank = replication.create_database("blank")
    store = reetrace.open_store(blank, read_only=True)
    try:
        store.migrate()  # nothing: a replica gets its schema from the primary
        assert not store.has_schema()
        with pytest.raises(reetrace.StoreError, match="read-only"), store.appending():
            pass
    finally:
        store.dispose()
    down = reetrace.open_store("postgresql://postgres@127.0.0.1:1/nothing", read_only=True)
    try:
        with pytest.raises(reetrace.Unavailable, match="read-only database does not answer"):
            down.head()
    finally:
        down.dispose()
