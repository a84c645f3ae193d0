"""The service over a real uvicorn on 127.0.0.1, on SQLite and on PostgreSQL: authentication, the
whole authorisation matrix, submissions over HTTP (receipts, errors, limits, busy), reads."""

from __future__ import annotations

import gzip
import socket
import struct
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

import reetrace
from tests.service_helpers import (
    EXAMPLES,
    A,
    Server,
    World,
    build_world,
    extract_month,
    head,
    start_server,
    verify_db,
)

LOT = f"{A}:MAG-2503-0042"
ROLES = ("A", "B", "inspector", "admin", "none", "revoked", "expired")


@pytest.fixture(scope="module")
def world(module_db: str) -> World:
    return build_world(module_db)


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[Server]:
    srv = start_server(world.db, max_upload_mb=1, lock_timeout=0.3)
    try:
        yield srv
    finally:
        srv.stop()


def token(world: World, role: str) -> str | None:
    return world.tokens.get(role)


def call(server: Server, world: World, role: str, method: str, path: str, **kw: Any) -> httpx.Response:
    with server.client(token(world, role)) as c:
        return c.request(method, path, **kw)


# -- the matrix -----------------------------------------------------------------------------------

_OK_ALL = {"A": 200, "B": 200, "inspector": 200, "admin": 200}
_INSPECTOR = {"A": 403, "B": 403, "inspector": 200, "admin": 403}
_ADMIN = {"A": 403, "B": 403, "inspector": 403, "admin": 200}
_A_OWN = {"A": 200, "B": 403, "inspector": 200, "admin": 403}
#: the transparency log: public, whatever token is sent (none, revoked, expired)
_PUBLIC = dict.fromkeys(ROLES, 200)


def _matrix(world: World) -> list[tuple[str, str, str, dict[str, Any], dict[str, int], bool]]:
    """(name, method, path, request kwargs, expected status per role, writes) for every endpoint."""
    a_file = (EXAMPLES / f"{A}-2025-03.jsonl").read_bytes()
    env_a = world.envelopes[A]
    submit = f"/v1/submissions?enterprise={A}&period=2025-03"
    reg = orjson.loads((EXAMPLES / "registry.json").read_bytes())
    return [
        ("submit own month (no-op)", "POST", submit, {"content": a_file},
         {"A": 200, "B": 403, "inspector": 403, "admin": 200}, True),
        ("submit with a given time of receipt", "POST", submit + "&received_at=2025-04-08T09:30:00%2B08:00",
         {"content": a_file}, {"A": 403, "B": 403, "inspector": 403, "admin": 200}, True),
        ("list a period", "GET", "/v1/submissions?period=2025-03", {}, _OK_ALL, False),
        ("list a period of A", "GET", f"/v1/submissions?period=2025-03&enterprise={A}", {},
         {"A": 200, "B": 403, "inspector": 200, "admin": 200}, False),
        ("submission status", "GET", "/v1/submissions/status?period=2025-03", {},
         {"A": 403, "B": 403, "inspector": 200, "admin": 200}, False),
        ("receipt of A", "GET", f"/v1/submissions/{env_a}", {},
         {"A": 200, "B": 403, "inspector": 200, "admin": 200}, False),
        ("lot of A", "GET", f"/v1/lots/{LOT}", {}, _A_OWN, False),
        ("trace summary", "GET", f"/v1/lots/{LOT}/trace", {}, _A_OWN, False),
        ("trace svg", "GET", f"/v1/lots/{LOT}/trace?format=svg", {}, {**_INSPECTOR}, False),
        ("trace dot", "GET", f"/v1/lots/{LOT}/trace?format=dot", {}, _INSPECTOR, False),
        ("trace graphml", "GET", f"/v1/lots/{LOT}/trace?format=graphml", {}, _INSPECTOR, False),
        ("trace forward", "GET", f"/v1/lots/{LOT}/trace?direction=forward", {}, _INSPECTOR, False),
        ("search own lots", "GET", "/v1/lots?prefix=N", {},
         {"A": 200, "B": 200, "inspector": 200, "admin": 403}, False),
        ("search A's lots", "GET", f"/v1/lots?prefix=N&enterprise={A}", {}, _A_OWN, False),
        ("search box", "GET", "/v1/search?q=mag", {}, {"A": 200, "B": 200, "inspector": 200, "admin": 403},
         False),
        ("search box, A's lots", "GET", f"/v1/search?q=mag&enterprise={A}", {}, _A_OWN, False),
        ("events of A", "GET", f"/v1/events?enterprise={A}", {}, _A_OWN, False),
        ("audit", "GET", "/v1/audit?from=2025-03&to=2025-03&as_of=2025-04-11T00:00:00%2B08:00", {}, _INSPECTOR,
         False),
        ("audit csv", "GET", "/v1/audit?format=csv&rule=overdrawn_lot", {}, _INSPECTOR, False),
        ("quota report", "GET", "/v1/quota/2025", {}, _INSPECTOR, False),
        ("registry", "GET", "/v1/registry", {}, _OK_ALL, False),
        ("load registry (unchanged)", "POST", "/v1/registry", {"json": reg}, _ADMIN, True),
        ("list principals", "GET", "/v1/principals", {}, _ADMIN, False),
        ("add principal", "POST", "/v1/principals",
         {"json": {"name": f"p-{uuid.uuid4().hex[:8]}", "role": "inspector"}},
         {"A": 403, "B": 403, "inspector": 403, "admin": 201}, True),
        ("issue token", "POST", "/v1/tokens", {"json": {"principal": "ent-b"}},
         {"A": 403, "B": 403, "inspector": 403, "admin": 201}, True),
        ("revoke token", "DELETE", f"/v1/tokens/{world.token_ids['revoked']}", {}, _ADMIN, True),
        ("checkpoint", "GET", "/v1/checkpoint", {}, _OK_ALL, False),
        ("EPCIS query", "GET", "/v1/epcis/events?eventType=ObjectEvent", {},
         {"A": 200, "B": 200, "inspector": 200, "admin": 403}, False),
        ("EPCIS capture (not JSON: refused)", "POST", "/v1/epcis/capture",
         {"content": b"{", "headers": {"Content-Type": "application/ld+json"}},
         {"A": 400, "B": 400, "inspector": 403, "admin": 400}, True),
        ("EPCIS capture job (none)", "GET", "/v1/epcis/capture/none", {},
         {"A": 404, "B": 404, "inspector": 404, "admin": 404}, False),
        # this server has no log key: no signed checkpoint, for anyone; the proofs need no key
        ("log checkpoint (no key)", "GET", "/v1/log/checkpoint", {}, dict.fromkeys(ROLES, 404), False),
        ("log consistency", "GET", "/v1/log/consistency?first=1&second=3", {}, _PUBLIC, False),
        ("log inclusion", "GET", "/v1/log/inclusion?index=0&size=3", {}, _PUBLIC, False),
        ("log nodes", "GET", "/v1/log/nodes?keys=0.0,1.0", {}, _PUBLIC, False),
    ]  # fmt: skip


def test_the_whole_authorisation_matrix(server: Server, world: World) -> None:
    """Every endpoint x every role; a refused request writes nothing (the head of the log is unchanged)."""
    failures: list[str] = []
    log = reetrace.open_store(world.db)  # one store for the head checks
    try:
        _walk_matrix(server, world, log, failures)
    finally:
        log.dispose()
    assert not failures, "\n".join(failures)
    r = call(server, world, "none", "GET", "/health")
    assert r.status_code == 200 and r.json()["database"] is True
    assert verify_db(world.db) == head(world.db)[0]


def _walk_matrix(server: Server, world: World, log: reetrace.Store, failures: list[str]) -> None:
    for name, method, path, kw, expected, writes in _matrix(world):
        for role in ROLES:
            want = expected.get(role, 401)  # no, revoked and expired tokens: 401 everywhere
            before = head(log)
            r = call(server, world, role, method, path, **kw)
            if r.status_code != want:
                failures.append(f"{name} as {role}: {r.status_code} (want {want}) {r.text[:200]}")
            if r.status_code >= 400:
                assert r.headers["content-type"].startswith("application/problem+json"), (name, role)
                if r.status_code == 401:
                    assert r.headers["www-authenticate"].startswith("Bearer")
                if head(log) != before:
                    failures.append(f"{name} as {role}: refused but the log moved")
            elif not writes and head(log) != before:
                failures.append(f"{name} as {role}: a read moved the log")


def test_an_enterprise_sees_the_origin_summary_without_others_lots_and_masses(
    server: Server, world: World
) -> None:
    full = call(server, world, "inspector", "GET", f"/v1/lots/{LOT}/trace").json()
    summary = call(server, world, "A", "GET", f"/v1/lots/{LOT}/trace").json()
    assert {(o["kind"], o["id"]) for o in summary["origins"]} == {
        (o["kind"], o["id"]) for o in full["origins"]
    }
    assert [p["site"] for p in summary["separation_plants"]] == [p["site"] for p in full["separation_plants"]]
    text = orjson.dumps(summary).decode()
    for other in ("NMSEP:", "NBMET:", "NMMINE:", "GXIMP:", "mass_kg", "reo_kg", "nodes", "edges"):
        assert other not in text
    lot = call(server, world, "A", "GET", f"/v1/lots/{LOT}").json()
    assert all(e["enterprise"] == A for e in lot["created_by"] + lot["drawn_by"])


def test_the_search_box_over_the_api(server: Server, world: World) -> None:
    """GET /v1/search is the workbench's box: any case, documents, did-you-mean, an enterprise's own lots."""

    def search(role: str, **params: Any) -> httpx.Response:
        return call(server, world, role, "GET", "/v1/search", params=params)

    # A lower-case code prefix without ENT: finds the magnet.
    found = search("inspector", q="mag-2503").json()
    assert LOT in [h["lot"] for h in found["lots"]] and found["more"] is False
    # The waybill of NBMAG's two receipts finds the two lots they created, first.
    by_waybill = [h["lot"] for h in search("inspector", q="wb-nb-0320").json()["lots"]]
    assert by_waybill[:2] == [f"{A}:IN-D-21", f"{A}:IN-M-21"]
    # Nothing found: the closest recorded codes.
    missed = search("inspector", q=f"{A}:MAG-2503-0043").json()
    assert missed["lots"] == [] and LOT in missed["did_you_mean"]
    # Pages: one hit each, no duplicates, the last says no more.
    first, second = (search("inspector", q="wb-nb-0320", limit=1, offset=n).json() for n in (0, 1))
    assert first["more"] is True and first["lots"][0]["lot"] != second["lots"][0]["lot"]
    # An enterprise: its own lots only, whatever it types; another's lots by name: 403, by search: nothing.
    own = search("B").json()["lots"]
    assert own and all(h["lot"].startswith("NMSEP:") for h in own)
    assert search("B", q="mag").json()["lots"] == []
    assert search("B", q="mag", enterprise=A).status_code == 403
    assert search("B", q="wb-nb-0320").json()["lots"] == []
    # Bad input: 422 naming it.
    bad = search("inspector", q="x", period="2025-13")
    assert bad.status_code == 422 and "2025-13" in bad.json()["detail"]
    assert search("inspector").status_code == 422


def test_tokens_are_never_stored_or_logged(server: Server, world: World) -> None:
    store = reetrace.open_store(world.db)
    try:
        with store.reading() as conn:
            import sqlalchemy as sa

            bodies = b"".join(bytes(r[0]) for r in conn.execute(sa.text("SELECT body FROM log")))
    finally:
        store.dispose()
    for t in world.tokens.values():
        secret = t.split("_", 2)[2]  # rt_<id>_<secret>; the secret itself may hold "_"
        assert len(secret) == 43
        assert secret.encode() not in bodies
        assert secret not in server.text_log()


# -- submissions over HTTP --------------------------------------------------------------------------


def _fresh_month(world: World, lot_suffix: str) -> bytes:
    """A new month of A: the example file with fresh event ids and lots, in April 2025."""
    text = (EXAMPLES / f"{A}-2025-03.jsonl").read_text()
    return text.replace("2025-03-", "2025-04-").replace('"event_id":"', f'"event_id":"{lot_suffix}-').encode()


def test_submit_gives_a_receipt_recorded_in_the_chain(server: Server, world: World) -> None:
    body = extract_month("2025-05", "receipt", 3).decode()
    # the mine gets its own principal and token over the API
    with server.client(world.tokens["admin"]) as admin:
        name = f"mine-{uuid.uuid4().hex[:6]}"
        assert admin.post("/v1/principals", json={"name": name, "role": "enterprise",
                                                  "enterprise": "NMMINE"}).status_code == 201  # fmt: skip
        tok = admin.post("/v1/tokens", json={"principal": name}).json()
    with server.client(tok["token"]) as c:
        r = c.post(
            "/v1/submissions?enterprise=NMMINE&period=2025-05&filename=NMMINE-2025-05.jsonl.gz",
            content=gzip.compress(body.encode()), headers={"User-Agent": "test-agent/1"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        rec = r.json()
        assert rec["position"] and rec["new_events"] > 0 and rec["received_at_given"] is not True
        assert rec["submitter"] == {"principal": name, "token": tok["id"], "address": "127.0.0.1",
                                    "user_agent": "test-agent/1"}  # fmt: skip
        receipt = c.get(f"/v1/submissions/{rec['position']}").json()
        assert receipt["submitter"]["token"] == tok["id"] and receipt["received_at_given"] is False
        assert receipt["digest"] == rec["digest"] and receipt["events"]["count"] == rec["new_events"]
        assert receipt["source"] == "NMMINE-2025-05.jsonl.gz"
        again = c.post(
            "/v1/submissions?enterprise=NMMINE&period=2025-05", content=gzip.compress(body.encode())
        )
        assert again.status_code == 200 and again.json()["noop"] is True
    verify_db(world.db)


def test_admin_may_give_the_time_of_receipt_and_the_envelope_says_so(server: Server, world: World) -> None:
    body = extract_month("2025-06", "given", 2)
    with server.client(world.tokens["admin"]) as c:
        r = c.post("/v1/submissions?enterprise=NMMINE&period=2025-06&received_at=2025-07-08T09:00:00%2B08:00",
                   content=body)  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["late"] is False and r.json()["received_at_given"] is True
    rows = call(server, world, "inspector", "GET", "/v1/submissions?period=2025-06&enterprise=NMMINE").json()
    env = rows["submissions"][-1]
    assert env["received_at_given"] is True and env["received_at"] == "2025-07-08T09:00:00+08:00"
    assert env["submitter"]["principal"] == "operator"
    status = call(server, world, "inspector", "GET", "/v1/submissions/status?period=2025-06").json()
    mine = next(r for r in status["rows"] if r["enterprise"] == "NMMINE")
    assert mine["received_at_given"] is True and mine["submitted_by"] == ["operator"]
    assert mine["status"] == "on_time"


def test_bad_input_gets_every_error_with_line_and_field_and_writes_nothing(
    server: Server, world: World
) -> None:
    src = (EXAMPLES / "GXIMP-2025-03.jsonl").read_text()
    broken = src.replace('"reo_pct":92', '"reo_pct":192').replace('"country":"MM"', '"country":"M"')
    assert broken != src
    before = head(world.db)
    r = call(server, world, "admin", "POST", "/v1/submissions?enterprise=GXIMP&period=2025-03",
             content=broken.encode())  # fmt: skip
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["status"] == 422 and "nothing was written" in problem["detail"]
    got = {(e["line"], e["field"], e["reason"]) for e in problem["errors"]}
    # the CLI's errors, through the library, for the same bytes
    path = (
        Path(world.db.removeprefix("sqlite:///")).parent / "broken.jsonl"
        if world.db.startswith("sqlite")
        else None
    )
    if path is not None:
        path.write_text(broken)
        store = reetrace.open_store(world.db)
        try:
            with pytest.raises(reetrace.InputError) as exc:
                reetrace.submit(store, str(path), enterprise="GXIMP", period="2025-03")
        finally:
            store.dispose()
        assert got == {(p.line, p.field, p.reason) for p in exc.value.problems}
    assert {"origin.country", "outputs[0].reo_pct"} <= {f for _, f, _ in got}
    assert head(world.db) == before


def test_a_conflicting_event_is_409(server: Server, world: World) -> None:
    src = (EXAMPLES / f"{A}-2025-03.jsonl").read_text()
    changed = src.replace('"mass_kg":', '"mass_kg":1', 1)
    before = head(world.db)
    r = call(
        server, world, "A", "POST", f"/v1/submissions?enterprise={A}&period=2025-03", content=changed.encode()
    )
    assert r.status_code == 409, r.text
    assert any(e["reason"].startswith("conflict:") for e in r.json()["errors"])
    assert head(world.db) == before


def test_an_upload_over_the_limit_is_413_while_streaming(server: Server, world: World) -> None:
    before = head(world.db)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is checked as the body streams
        for _ in range(40):
            yield b"x" * 65536

    r = call(server, world, "A", "POST", f"/v1/submissions?enterprise={A}&period=2025-07", content=chunks())
    assert r.status_code == 413
    assert head(world.db) == before


def test_a_busy_log_answers_503_with_retry_after(server: Server, world: World) -> None:
    store = reetrace.open_store(world.db)
    before = head(world.db)
    try:
        with store.appending():  # hold the write lock longer than the service's 0.3 s
            r = call(server, world, "A", "POST", f"/v1/submissions?enterprise={A}&period=2025-04",
                     content=_fresh_month(world, "busy"))  # fmt: skip
    finally:
        store.dispose()
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"].isdigit()
    assert head(world.db) == before


def test_a_client_that_disconnects_mid_upload_leaves_nothing(server: Server, world: World) -> None:
    before = head(world.db)
    host, port = server.url.removeprefix("http://").split(":")
    body = _fresh_month(world, "gone")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(
            f"POST /v1/submissions?enterprise={A}&period=2025-04 HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {world.tokens['A']}\r\nContent-Length: {len(body) * 4}\r\n\r\n".encode()
            + body
        )
    # the server is still well, and nothing of the half upload was written
    assert call(server, world, "none", "GET", "/health").status_code == 200
    assert head(world.db) == before


def test_killed_mid_upload_leaves_nothing_and_verify_passes(world: World) -> None:
    srv = start_server(world.db, max_upload_mb=64)
    try:
        before = head(world.db)
        host, port = srv.url.removeprefix("http://").split(":")
        body = _fresh_month(world, "killed")
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(
                f"POST /v1/submissions?enterprise={A}&period=2025-04 HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {world.tokens['A']}\r\nContent-Length: {len(body) + 10_000_000}\r\n\r\n"
                .encode() + body
            )  # fmt: skip
            srv.kill()
    finally:
        srv.stop()
    assert head(world.db) == before
    assert verify_db(world.db) == before[0]


# -- the CLI as a client ----------------------------------------------------------------------------


def _cli(args: list[str], token: str | None = None) -> Any:
    from click.testing import CliRunner

    from reetrace.cli import main

    env = {"REETRACE_TOKEN": token} if token else {}
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def test_cli_over_the_server_prints_what_it_prints_locally(server: Server, world: World) -> None:
    insp = world.tokens["inspector"]
    for args in (
        ["lot", LOT],
        ["submissions", "status", "--period", "2025-03", "--as-of", "2025-04-11"],
        ["lot", LOT, "--json"],
    ):
        local = _cli([*args, "--db", world.db])
        remote = _cli([*args, "--server", server.url], insp)
        assert remote.exit_code == 0, remote.output
        assert remote.output == local.output, args
    local = orjson.loads(_cli(["audit", "--as-of", "2025-04-11", "--json", "--db", world.db]).output)
    remote = orjson.loads(
        _cli(["audit", "--as-of", "2025-04-11", "--json", "--server", server.url], insp).output
    )
    assert [f for f in remote["findings"]] == local["findings"]
    table = _cli(["audit", "--as-of", "2025-04-11", "--server", server.url], insp)
    assert table.exit_code == 0 and "finding(s)" in table.output
    tree = _cli(["trace", LOT, "--server", server.url], insp)
    assert tree.exit_code == 0 and "BO-MINE" in tree.output and "530420250311001" in tree.output
    summary = _cli(["trace", LOT, "--server", server.url], world.tokens["A"])
    assert summary.exit_code == 0 and "origin summary" in summary.output and "BO-MINE" in summary.output
    dot = _cli(["trace", LOT, "--format", "dot", "--server", server.url], insp)
    assert dot.output.startswith(("digraph", "strict digraph"))


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (after the 8-byte signature and the chunk's length/type)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_cli_trace_over_the_server_writes_what_it_writes_locally(
    server: Server, world: World, tmp_path: Path
) -> None:
    """Every format of ``reetrace trace --server``, png included, is the local command's output."""
    insp = world.tokens["inspector"]
    for direction in ([], ["--forward"]):
        lot = "NMMINE:BOC-2503-01" if direction else LOT
        for fmt, extra in (
            ("tree", []), ("json", []), ("dot", []), ("graphml", []), ("svg", []), ("png", []),
            ("png", ["--max-nodes", "3"]), ("svg", ["--max-nodes", "3"]),
        ):  # fmt: skip
            args = ["trace", lot, *direction, "--format", fmt, *extra]
            local, remote = tmp_path / f"local.{fmt}", tmp_path / f"remote.{fmt}"
            r = _cli([*args, "-o", str(local), "--db", world.db])
            assert r.exit_code == 0, r.output
            r = _cli([*args, "-o", str(remote), "--server", server.url], insp)
            assert r.exit_code == 0, r.output
            if fmt in ("svg", "png"):
                assert r.output == f"wrote {remote}\n"
            assert remote.read_bytes() == local.read_bytes(), (args, direction)
            if fmt == "png":
                width, height = _png_size(remote.read_bytes())
                assert 100 < width < 20_000 and 100 < height < 20_000, (width, height)
        # Without -o, json goes to standard output as locally.
        args = ["trace", lot, *direction, "--format", "json"]
        remote_out = _cli([*args, "--server", server.url], insp)
        assert remote_out.exit_code == 0 and remote_out.output == _cli([*args, "--db", world.db]).output
    # Fewer lots drawn, a smaller picture; a limit the service refuses is named.
    full, few = tmp_path / "full.png", tmp_path / "few.png"
    _cli(["trace", LOT, "--format", "png", "-o", str(full), "--server", server.url], insp)
    _cli(["trace", LOT, "--format", "png", "--max-nodes", "2", "-o", str(few), "--server", server.url], insp)
    assert _png_size(few.read_bytes()) != _png_size(full.read_bytes())
    with server.client(insp) as c:
        r = c.get(f"/v1/lots/{LOT}/trace", params={"format": "png", "max_nodes": 501})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.max_nodes"
        r = c.get(f"/v1/lots/{LOT}/trace", params={"format": "png"})
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    # An enterprise gets the origin summary, not a picture: refused, and nothing written.
    out = tmp_path / "refused.png"
    r = _cli(["trace", LOT, "--format", "png", "-o", str(out), "--server", server.url], world.tokens["A"])
    assert r.exit_code == 1 and "HTTP 403" in r.output and not out.exists()


def test_cli_submit_over_the_server(server: Server, world: World, tmp_path: Path) -> None:
    f = tmp_path / "NMMINE-2025-09.jsonl"
    f.write_bytes(extract_month("2025-09", "cli", 2))
    name = f"cli-{uuid.uuid4().hex[:6]}"
    with server.client(world.tokens["admin"]) as admin:
        admin.post("/v1/principals", json={"name": name, "role": "enterprise", "enterprise": "NMMINE"})
        tok = admin.post("/v1/tokens", json={"principal": name}).json()["token"]
    r = _cli(["submit", str(f), "-e", "NMMINE", "-p", "2025-09", "--server", server.url], tok)
    assert r.exit_code == 0 and r.output.startswith(
        "recorded 2 events (2 lot lines) for NMMINE 2025-09 at position"
    )
    r = _cli(["submit", str(f), "-e", "NMMINE", "-p", "2025-09", "--server", server.url], tok)
    assert r.output == "nothing changed: NMMINE 2025-09 is already recorded (2 events identical)\n"
    bad = tmp_path / "broken.jsonl"
    bad.write_text((EXAMPLES / "GXIMP-2025-03.jsonl").read_text().replace('"country":"MM"', '"country":"M"'))
    before = head(world.db)
    r = _cli(["submit", str(bad), "-e", "NMMINE", "-p", "2025-03", "--server", server.url], tok)
    assert r.exit_code == 1 and "nothing was written" in r.output and f"{bad}:1: origin.country:" in r.output
    r = _cli(["submit", str(f), "-e", "NMSEP", "-p", "2025-09", "--server", server.url], tok)
    assert r.exit_code == 1 and "HTTP 403" in r.output
    r = _cli(["submit", str(f), "-e", "NMMINE", "-p", "2025-09", "--server", server.url], None)
    assert r.exit_code == 1 and "REETRACE_TOKEN" in r.output
    assert head(world.db) == before


def test_reads_go_to_the_replica_and_receipts_to_the_primary(tmp_path: Path) -> None:
    """--read-db: lists and lots come from the replica (here a stale copy of a SQLite primary; a real
    PostgreSQL streaming replica is in tests/test_replica.py), a receipt from the primary."""
    import shutil

    world = build_world(f"sqlite:///{tmp_path / 'primary.db'}")

    replica = tmp_path / "replica.db"
    store = reetrace.open_store(world.db)
    try:
        with store.reading() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(FULL)")
    finally:
        store.dispose()
    shutil.copyfile(world.db.removeprefix("sqlite:///"), replica)
    srv = start_server(world.db, read_db=f"sqlite:///{replica}")
    try:
        with srv.client(world.tokens["admin"]) as c:
            r = c.post(
                "/v1/submissions?enterprise=NMMINE&period=2025-10", content=extract_month("2025-10", "rep")
            )
            assert r.status_code == 201, r.text
            pos = r.json()["position"]
            assert c.get(f"/v1/submissions/{pos}").status_code == 200  # read-your-writes from the primary
            listed = c.get("/v1/submissions?period=2025-10").json()["submissions"]
            assert listed == []  # the replica has not caught up
    finally:
        srv.stop()
