"""The transparency log over a real uvicorn, on SQLite and on PostgreSQL: receipts from HTTP
submissions, the public ``/v1/log`` endpoints, and ``reetrace witness --server`` following a growing
log and refusing the insider's rewrite."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from click.testing import CliRunner

import reetrace
from reetrace.cli import main
from reetrace.tlog import generate_key, load_key
from reetrace.tlog.keys import Signer
from reetrace.transparency import latest_checkpoint, tree_state
from reetrace.verifier import open_checkpoint, verify_consistency, verify_inclusion, verify_receipt
from reetrace.witness import HttpSource, SourceError
from tests.conftest import PG_ADMIN, _pg_base
from tests.service_helpers import Server, World, build_world, extract_month, start_server, verify_db
from tests.test_tlog_store import rewrite_history

LOG = "reetrace.test/service-log"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def log_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('svclog') / 'reetrace.db'}"
        return
    if not request.getfixturevalue("pg_available"):
        pytest.skip("REETRACE_SKIP_POSTGRES=1")
    name = f"reetrace_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{_pg_base()}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("logkey") / "log.key"
    generate_key(path, LOG)
    return path


@pytest.fixture(scope="module")
def signer(key_file: Path) -> Signer:
    return load_key(key_file)


@pytest.fixture(scope="module")
def world(log_db: str) -> World:
    return build_world(log_db)


@pytest.fixture(scope="module")
def server(world: World, key_file: Path) -> Iterator[Server]:
    srv = start_server(world.db, max_upload_mb=1, log_key=key_file)
    try:
        yield srv
    finally:
        srv.stop()


def _admin_submit(server: Server, world: World, tag: str, period: str, events: int = 2) -> tuple[bytes, Any]:
    data = extract_month(period, f"{tag}-{uuid.uuid4().hex[:6]}", events)
    with server.client(world.tokens["admin"]) as c:
        r = c.post(f"/v1/submissions?enterprise=NMMINE&period={period}", content=data)
    assert r.status_code == 201, r.text
    return data, r.json()


def _witness(state: Path, pub: str, server: Server, code: int = 0) -> str:
    res = CliRunner().invoke(
        main, ["witness", "--state", str(state), "--log-key", pub, "--server", server.url, "--timeout", "20"]
    )
    assert res.exit_code == code, res.output
    return str(res.output)


# -- receipts -----------------------------------------------------------------------------------------


def test_an_http_submission_returns_a_receipt_that_verifies(
    server: Server, world: World, signer: Signer
) -> None:
    data, body = _admin_submit(server, world, "rcpt", "2025-05", 3)
    assert {"position", "digest", "new_events", "message", "receipt"} <= set(body)
    assert body["receipt"]["format"] == "reetrace-receipt/1"
    ok = verify_receipt(orjson.dumps(body["receipt"]), signer.verifier_key, data)
    assert (ok.enterprise, ok.period, ok.envelope_position) == ("NMMINE", "2025-05", body["position"])
    assert len(ok.event_leaf_hashes) == body["new_events"] == 3
    # the read-back carries a fresh receipt of the same envelope, against a checkpoint as new or newer
    with server.client(world.tokens["inspector"]) as c:
        back = c.get(f"/v1/submissions/{body['position']}").json()
    again = verify_receipt(orjson.dumps(back["receipt"]), signer.verifier_key, data)
    assert again.envelope_position == ok.envelope_position
    assert again.checkpoint.size >= ok.checkpoint.size
    verify_db(world.db)


def test_without_a_key_there_is_no_receipt_and_no_checkpoint(world: World) -> None:
    srv = start_server(world.db, max_upload_mb=1)
    try:
        _, body = _admin_submit(srv, world, "nokey", "2025-06")
        assert "receipt" not in body
        with srv.client(world.tokens["inspector"]) as c:
            assert "receipt" not in c.get(f"/v1/submissions/{body['position']}").json()
        with srv.client() as c:
            r = c.get("/v1/log/checkpoint")
            assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
            assert "no log key" in r.json()["detail"]
            assert c.get("/v1/log/consistency", params={"first": 1, "second": 2}).status_code == 200
    finally:
        srv.stop()


# -- the public endpoints -----------------------------------------------------------------------------


def test_the_log_endpoints_answer_without_a_token(server: Server, world: World, signer: Signer) -> None:
    with server.client() as c:  # no token at all
        r = c.get("/v1/log/checkpoint")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/plain")
        cp = open_checkpoint(r.text, signer.verifier_key)
        assert cp.origin == LOG and cp.size >= 1

        proof = c.get("/v1/log/consistency", params={"first": 3, "second": cp.size}).json()["proof"]
        old_root = c.get("/v1/log/inclusion", params={"index": 0, "size": 3}).json()["root"]
        verify_consistency(
            3, cp.size, [base64.b64decode(h) for h in proof], base64.b64decode(old_root), cp.root
        )

        inc = c.get("/v1/log/inclusion", params={"index": cp.size - 1, "size": cp.size}).json()
        verify_inclusion(base64.b64decode(inc["leaf_hash"]), cp.size - 1, cp.size,
                         [base64.b64decode(h) for h in inc["proof"]], cp.root)  # fmt: skip

        nodes = c.get("/v1/log/nodes", params={"keys": "0.0,1.0,0.0,60.0"}).json()["nodes"]
        assert set(nodes) == {"0.0", "1.0"}  # asked twice, answered once; 60.0 does not exist yet
        assert all(len(base64.b64decode(h)) == 32 for h in nodes.values())
        # a token does not change anything, a bad one does not get a 401 either: the log is public
        bad = c.get("/v1/log/checkpoint", headers={"Authorization": "Bearer rt_nope_nope"})
        assert bad.status_code == 200


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/log/consistency", {"first": -1, "second": 2}, "query.first"),
        ("/v1/log/consistency", {"first": "x", "second": 2}, "query.first"),
        ("/v1/log/consistency", {"first": 1}, "query.second"),
        ("/v1/log/consistency", {"first": 5, "second": 2}, "query.first"),
        ("/v1/log/consistency", {"first": 1, "second": 2**62}, "query.second"),
        ("/v1/log/consistency", {"first": 1, "second": 2**63}, "query.second"),
        ("/v1/log/inclusion", {"index": 3, "size": 3}, "query.index"),
        ("/v1/log/inclusion", {"index": 0, "size": 10**9}, "query.size"),
        ("/v1/log/inclusion", {"index": 0}, "query.size"),
        ("/v1/log/nodes", {"keys": ""}, "query.keys"),
        ("/v1/log/nodes", {"keys": "1.x"}, "query.keys"),
        ("/v1/log/nodes", {"keys": "63.0"}, "query.keys"),
        ("/v1/log/nodes", {"keys": "0.-1"}, "query.keys"),
        ("/v1/log/nodes", {"keys": ",".join(f"0.{i}" for i in range(65))}, "query.keys"),
        ("/v1/log/nodes", {"keys": "0.0" * 2000}, "query.keys"),
        ("/v1/log/nodes", {}, "query.keys"),
    ],
)
def test_the_log_endpoints_refuse_bad_parameters_with_422(
    server: Server, path: str, params: dict[str, Any], field: str
) -> None:
    with server.client() as c:
        r = c.get(path, params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert field in {e["field"] for e in r.json()["errors"]}


# -- the witness over the service ---------------------------------------------------------------------


def test_http_source_names_an_unreachable_server_and_garbage(tmp_path: Path, signer: Signer) -> None:
    with HttpSource("http://127.0.0.1:9", timeout=2) as src, pytest.raises(SourceError, match="cannot reach"):
        src.checkpoint()
    res = CliRunner().invoke(main, ["witness", "--state", str(tmp_path / "w.json"), "--log-key",
                                    signer.verifier_key, "--server", "http://127.0.0.1:9", "--timeout", "2"])  # fmt: skip
    assert res.exit_code == 1 and "cannot reach" in res.output
    assert not (tmp_path / "w.json").exists()

    def garbage(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/log/checkpoint":
            return httpx.Response(200, text="<html>hello</html>", headers={"content-type": "text/html"})
        if request.url.path == "/v1/log/consistency":
            return httpx.Response(200, json={"proof": ["not base64!"]})
        return httpx.Response(200, content=b"{not json")

    client = httpx.Client(base_url="http://log.test", transport=httpx.MockTransport(garbage))
    src = HttpSource("http://log.test", client=client)
    with pytest.raises(SourceError, match="signed note"):
        src.checkpoint()
    with pytest.raises(SourceError, match="not base64"):
        src.consistency(1, 2)
    with pytest.raises(SourceError, match="JSON"):
        src.nodes([(0, 0)])


def test_witness_needs_exactly_one_source(tmp_path: Path, signer: Signer) -> None:
    base = ["witness", "--state", str(tmp_path / "w.json"), "--log-key", signer.verifier_key]
    assert CliRunner().invoke(main, base).exit_code == 2
    both = CliRunner().invoke(main, [*base, "--db", "sqlite:///x.db", "--server", "http://127.0.0.1:9"])
    assert both.exit_code == 2 and "exactly one" in both.output


def test_a_witness_over_the_server_follows_the_log_and_catches_the_rewrite(
    server: Server, world: World, signer: Signer, tmp_path: Path
) -> None:
    state = tmp_path / "witness.json"
    pub = signer.verifier_key
    assert "first checkpoint" in _witness(state, pub, server)
    for i in range(3):  # a growing log: every run accepts the newer tree
        _admin_submit(server, world, f"grow{i}", "2025-07", i + 1)
        assert "consistent: size" in _witness(state, pub, server)
    assert "unchanged" in _witness(state, pub, server)
    held = state.read_bytes()

    # the insider backdates a submission and recomputes chain and tree behind the service's back
    store = reetrace.open_store(world.db)
    try:
        target = world.envelopes["NMSEP"]
        rewrite_history(store, target, {"received_at": "2025-04-02T10:00:00+08:00"})
        size = tree_state(store).size
    finally:
        store.dispose()
    verify_db(world.db)  # the store's own check cannot see it

    fork = _witness(state, pub, server, code=3)  # the service signs the same size over a new root
    assert "FORK" in fork
    assert state.read_bytes() == held

    _admin_submit(server, world, "after", "2025-08", 2)
    out = _witness(state, pub, server, code=4)
    assert "INCONSISTENT" in out and "within positions" in out
    assert state.read_bytes() == held
    with server.client() as c:  # the service's checkpoint is of the rewritten, grown log
        assert open_checkpoint(c.get("/v1/log/checkpoint").text, pub).size > size
    # the same answer straight from the store
    store = reetrace.open_store(world.db)
    try:
        assert open_checkpoint(latest_checkpoint(store, signer), pub).size > size
    finally:
        store.dispose()


def test_serve_refuses_a_log_key_it_cannot_use(world: World, tmp_path: Path) -> None:
    open_key = tmp_path / "open.key"
    generate_key(open_key, LOG)
    open_key.chmod(0o644)
    for path, said in ((tmp_path / "missing.key", "cannot read key file"), (open_key, "readable by others")):
        res = CliRunner().invoke(main, ["serve", "--db", world.db, "--log-key", str(path)])
        assert res.exit_code == 1 and said in res.output, res.output
