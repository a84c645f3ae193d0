"""Principals, tokens and revocations: log records, derived tables, verify, authentication."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import reetrace
from reetrace.cli import main
from reetrace.store import Store
from tests.service_helpers import EXAMPLES


def _registry(store: Store) -> None:
    reetrace.load_registry(store, reetrace.parse_registry(str(EXAMPLES / "registry.json")))


def test_tokens_authenticate_until_revoked_or_expired(store: Store) -> None:
    _registry(store)
    reetrace.add_principal(store, "ent-a", "enterprise", enterprise="NBMAG")
    t = reetrace.issue_token(store, "ent-a")
    assert t.token.startswith(f"rt_{t.id}_")
    p = reetrace.authenticate(store, t.token)
    assert p == reetrace.Principal("ent-a", "enterprise", "NBMAG", t.id)
    assert reetrace.authenticate(store, t.token[:-1] + ("A" if t.token[-1] != "A" else "B")) is None
    assert reetrace.authenticate(store, "rt_000000000000_" + "x" * 43) is None
    assert reetrace.authenticate(store, "not a token") is None
    soon = reetrace.issue_token(store, "ent-a", expires_at=datetime.now(UTC) + timedelta(hours=1))
    assert reetrace.authenticate(store, soon.token) is not None
    assert reetrace.authenticate(store, soon.token, now=datetime.now(UTC) + timedelta(hours=2)) is None
    assert reetrace.revoke_token(store, t.id) is not None
    assert reetrace.revoke_token(store, t.id) is None  # already revoked: nothing appended
    assert reetrace.authenticate(store, t.token) is None
    listed = {p["name"]: p for p in reetrace.list_principals(store)}
    assert [k["revoked_at"] is not None for k in listed["ent-a"]["tokens"]] == [True, False]
    assert reetrace.verify(store).records == store.head()[0]


def test_the_log_keeps_only_the_hash_of_a_token(store: Store) -> None:
    reetrace.add_principal(store, "op", "admin")
    t = reetrace.issue_token(store, "op")
    with store.reading() as conn:
        bodies = b"".join(bytes(r[0]) for r in conn.execute(sa.text("SELECT body FROM log")))
        kinds = [r[0] for r in conn.execute(sa.text("SELECT kind FROM log ORDER BY position"))]
    assert kinds == ["principal", "token"]
    assert t.token.encode() not in bodies and t.token.split("_", 2)[2].encode() not in bodies


def test_refusals(store: Store) -> None:
    _registry(store)
    reetrace.add_principal(store, "op", "admin")
    with pytest.raises(reetrace.PrincipalError, match="already exists"):
        reetrace.add_principal(store, "op", "inspector")
    with pytest.raises(reetrace.NotRegistered):
        reetrace.add_principal(store, "x", "enterprise", enterprise="NOPE")
    with pytest.raises(reetrace.PrincipalError):
        reetrace.add_principal(store, "y", "enterprise")
    with pytest.raises(reetrace.PrincipalError):
        reetrace.add_principal(store, "z", "root")
    with pytest.raises(reetrace.PrincipalError):
        reetrace.issue_token(store, "nobody")
    with pytest.raises(reetrace.PrincipalError):
        reetrace.revoke_token(store, "000000000000")
    assert reetrace.has_admin(store)


def test_verify_catches_a_token_added_behind_the_logs_back(store: Store) -> None:
    reetrace.add_principal(store, "op", "admin")
    reetrace.issue_token(store, "op")
    with store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO tokens (position, id, principal, sha256, issued_at, expires_at, issued_by) "
                "VALUES (99, 'abcdefabcdef', 'op', :h, :t, NULL, 'mallory')"
            ),
            {"h": "0" * 64, "t": datetime.now(UTC)},
        )
    with pytest.raises(reetrace.VerificationFailed, match="tokens"):
        reetrace.verify(store)


def test_cli_principals_tokens_and_serve_refusing_without_admin(db_url: str) -> None:
    run = CliRunner().invoke
    r = run(main, ["serve", "--db", db_url, "--port", "0"])
    assert r.exit_code == 1 and "no admin principal" in r.output
    assert run(main, ["registry", "load", str(EXAMPLES / "registry.json"), "--db", db_url]).exit_code == 0
    r = run(
        main, ["principal", "add", "ent-b", "--role", "enterprise", "--enterprise", "NMSEP", "--db", db_url]
    )
    assert r.exit_code == 0 and "principal ent-b (enterprise for NMSEP) recorded at position" in r.output
    r = run(main, ["token", "issue", "ent-b", "--expires", "2030-01-01", "--db", db_url])
    assert r.exit_code == 0
    token = r.stdout.strip().splitlines()[-1]
    token_id = token.split("_")[1]
    r = run(main, ["principal", "list", "--json", "--db", db_url])
    secret = token.split("_", 2)[2]  # token_urlsafe may itself hold "_"
    assert token_id in r.output and secret not in r.output
    r = run(main, ["token", "revoke", token_id, "--db", db_url])
    assert r.exit_code == 0 and "revoked at position" in r.output
    assert run(main, ["verify", "--db", db_url]).exit_code == 0
