"""Principals and bearer tokens: who may use the service, recorded in the log like everything else.

Three record kinds, appended through the store's Appender and hash-chained with the rest:

- ``principal``: ``{"name", "role", "enterprise"?, "created_at", "by"}``: a named identity with one
  role, ``enterprise`` (acts for one registered enterprise), ``inspector`` or ``admin``;
- ``token``: ``{"id", "principal", "sha256", "issued_at", "expires_at"?, "by"}``: a bearer token of a
  principal. Only the SHA-256 of the whole token is recorded: the token itself is shown once, when it is
  issued, and never stored or logged;
- ``revocation``: ``{"token", "revoked_at", "by"}``: the token id stops working.

``by`` names who did it: a principal's name, or ``cli`` for the operator on the server's host.

A token reads ``rt_<id>_<secret>``: the id (12 hex digits) finds the record in one indexed lookup, the
secret (43 URL-safe characters, 256 bits) is what the hash proves. Tokens compare in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.errors import NotRegistered, ReetraceError
from reetrace.store import Store
from reetrace.store.chain import canonical
from reetrace.store.derive import principal_row
from reetrace.store.schema import PRINCIPAL_TABLES, principals, revocations, tokens

ROLES = ("enterprise", "inspector", "admin")
PREFIX = "rt_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
_TOKEN = re.compile(r"^rt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


class PrincipalError(ReetraceError):
    """A principal or token operation was refused (unknown name, duplicate, bad role)."""


@dataclass(frozen=True)
class Principal:
    """An authenticated identity: who, in which role, for which enterprise, with which token."""

    name: str
    role: str
    enterprise: str | None = None
    token_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "enterprise": self.enterprise}


@dataclass(frozen=True)
class IssuedToken:
    """A freshly issued token: ``token`` is shown once and exists nowhere else."""

    id: str
    principal: str
    token: str
    expires_at: datetime | None
    position: int


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _principal(conn: Connection, name: str) -> sa.Row[Any] | None:
    q = sa.select(principals).where(principals.c.name == name).order_by(principals.c.position.desc())
    return conn.execute(q.limit(1)).first()


def add_principal(
    store: Store, name: str, role: str, *, enterprise: str | None = None, by: str = "cli"
) -> int:
    """Record a new principal; returns its position. Names are unique and never reused."""
    if not _NAME.match(name):
        raise PrincipalError(f"{name!r}: a name is letters, digits and ._@- (at most 128)")
    if role not in ROLES:
        raise PrincipalError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    if (role == "enterprise") != (enterprise is not None):
        raise PrincipalError("an enterprise principal needs --enterprise, and only it may have one")
    rec: dict[str, Any] = {"name": name, "role": role, "created_at": datetime.now(UTC).isoformat(), "by": by}
    if enterprise is not None:
        rec["enterprise"] = enterprise
    with store.appending() as app:
        if _principal(app.conn, name) is not None:
            raise PrincipalError(f"principal {name} already exists")
        if enterprise is not None:
            known = app.conn.execute(
                sa.text("SELECT 1 FROM current_enterprises WHERE code = :c"), {"c": enterprise}
            ).first()
            if known is None:
                raise NotRegistered(f"enterprise {enterprise} is not in the registry")
        pos = app.append("principal", canonical(rec))
        app.add(principals, principal_row("principal", pos, rec))
    return pos


def issue_token(
    store: Store, principal: str, *, expires_at: datetime | None = None, by: str = "cli"
) -> IssuedToken:
    """Issue a bearer token for ``principal``; the returned token is the only copy."""
    if expires_at is not None and expires_at.tzinfo is None:
        raise ValueError("an expiry needs a time zone")
    token_id = secrets.token_hex(6)
    token = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    rec: dict[str, Any] = {
        "id": token_id, "principal": principal, "sha256": _sha256(token),
        "issued_at": datetime.now(UTC).isoformat(), "by": by,
    }  # fmt: skip
    if expires_at is not None:
        rec["expires_at"] = expires_at.astimezone(UTC).isoformat()
    with store.appending() as app:
        if _principal(app.conn, principal) is None:
            raise PrincipalError(f"no principal named {principal}")
        pos = app.append("token", canonical(rec))
        app.add(tokens, principal_row("token", pos, rec))
    return IssuedToken(token_id, principal, token, expires_at, pos)


def revoke_token(store: Store, token_id: str, *, by: str = "cli") -> int | None:
    """Revoke a token by its id; returns the revocation's position (None: it was already revoked)."""
    rec = {"token": token_id, "revoked_at": datetime.now(UTC).isoformat(), "by": by}
    with store.appending() as app:
        known = app.conn.execute(sa.select(tokens.c.id).where(tokens.c.id == token_id)).first()
        if known is None:
            raise PrincipalError(f"no token with id {token_id}")
        done = app.conn.execute(sa.select(revocations.c.token).where(revocations.c.token == token_id)).first()
        if done is not None:
            return None
        pos = app.append("revocation", canonical(rec))
        app.add(revocations, principal_row("revocation", pos, rec))
    return pos


def authenticate(store: Store, token: str, *, now: datetime | None = None) -> Principal | None:
    """The principal a bearer token stands for, or None when it is malformed, unknown, expired or revoked."""
    m = _TOKEN.match(token)
    if m is None:
        return None
    token_id = m.group(1)
    q = (
        sa.select(
            tokens.c.sha256,
            tokens.c.expires_at,
            principals.c.name,
            principals.c.role,
            principals.c.enterprise,
            revocations.c.token,
        )
        .join(principals, principals.c.name == tokens.c.principal)
        .outerjoin(revocations, revocations.c.token == tokens.c.id)
        .where(tokens.c.id == token_id)
    )
    with store.reading() as conn:
        row = conn.execute(q).first()
    if row is None:
        return None
    sha, expires, name, role, enterprise, revoked = row
    if not hmac.compare_digest(sha, _sha256(token)):
        return None
    if revoked is not None:
        return None
    if expires is not None and expires <= (now or datetime.now(UTC)):
        return None
    return Principal(name, role, enterprise, token_id)


def list_principals(store: Store) -> list[dict[str, Any]]:
    """Every principal with its tokens (ids, issue and expiry times, revoked or not; never secrets)."""
    with store.reading() as conn:
        people = conn.execute(sa.select(principals).order_by(principals.c.position)).mappings().all()
        toks = conn.execute(
            sa.select(
                tokens.c.id,
                tokens.c.principal,
                tokens.c.issued_at,
                tokens.c.expires_at,
                revocations.c.revoked_at,
            )
            .outerjoin(revocations, revocations.c.token == tokens.c.id)
            .order_by(tokens.c.position)
        ).all()
    by_name: dict[str, list[dict[str, Any]]] = {}
    for tid, who, issued, expires, revoked in toks:
        by_name.setdefault(who, []).append({
            "id": tid, "issued_at": issued.isoformat(),
            "expires_at": expires.isoformat() if expires else None,
            "revoked_at": revoked.isoformat() if revoked else None,
        })  # fmt: skip
    return [
        {
            "name": p["name"],
            "role": p["role"],
            "enterprise": p["enterprise"],
            "created_at": p["created_at"].isoformat(),
            "position": p["position"],
            "tokens": by_name.get(p["name"], []),
        }
        for p in people
    ]


def has_admin(store: Store) -> bool:
    """Whether any admin principal exists (``reetrace serve`` refuses to start without one)."""
    with store.reading() as conn:
        q = sa.select(principals.c.position).where(principals.c.role == "admin").limit(1)
        return conn.execute(q).first() is not None


__all__ = [
    "PRINCIPAL_TABLES",
    "ROLES",
    "IssuedToken",
    "Principal",
    "PrincipalError",
    "add_principal",
    "authenticate",
    "has_admin",
    "issue_token",
    "list_principals",
    "revoke_token",
]
