"""The registry, principals and tokens, the checkpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field, ValidationError

import reetrace
from reetrace.service.auth import CurrentPrincipal, PrimaryStore, ReadStore
from reetrace.service.permissions import require
from reetrace.service.problems import HTTPProblem, responses
from reetrace.service.responses import JSON

router = APIRouter(prefix="/v1", tags=["admin"])


@router.get("/registry", response_class=JSON, response_model=dict[str, Any], responses=responses(401, 403))
def registry(principal: CurrentPrincipal, store: ReadStore) -> Any:
    """The current registry: groups, enterprises, sites, quotas."""
    require(principal, "registry.read")
    return reetrace.show_registry(store)


@router.post(
    "/registry", response_class=JSON, response_model=dict[str, Any], responses=responses(401, 403, 422)
)
def load_registry(
    principal: CurrentPrincipal, store: PrimaryStore, document: Annotated[dict[str, Any], Body()]
) -> Any:
    """Load a registry document: appends what is new or changed (admins)."""
    require(principal, "registry.load")
    try:
        reg = reetrace.Registry.model_validate(document)
    except ValidationError as exc:
        errors = [
            {"line": None, "field": ".".join(str(x) for x in e["loc"]) or "registry", "reason": e["msg"]}
            for e in exc.errors(include_url=False)
        ]
        raise HTTPProblem(
            422, "the registry document is not valid; nothing was written", errors=errors
        ) from None
    res = reetrace.load_registry(store, reg)
    return {"added": res.added, "changed": res.changed, "unchanged": res.unchanged, "position": res.position,
            "message": res.message()}  # fmt: skip


class NewPrincipal(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
    role: Literal["enterprise", "inspector", "admin"]
    enterprise: str | None = Field(default=None, max_length=64)


class NewToken(BaseModel):
    principal: str = Field(max_length=128)
    expires_at: datetime | None = None


@router.get("/principals", response_class=JSON, response_model=dict[str, Any], responses=responses(401, 403))
def principals(principal: CurrentPrincipal, store: PrimaryStore) -> Any:
    """Principals and their tokens (ids only)."""
    require(principal, "principals.manage")
    return {"principals": reetrace.list_principals(store)}


@router.post(
    "/principals", status_code=201, response_class=JSON, response_model=dict[str, Any],
    responses=responses(401, 403, 409, 422),
)  # fmt: skip
def add_principal(principal: CurrentPrincipal, store: PrimaryStore, new: NewPrincipal) -> Any:
    """Record a principal (admins)."""
    require(principal, "principals.manage")
    pos = reetrace.add_principal(store, new.name, new.role, enterprise=new.enterprise, by=principal.name)
    return {"name": new.name, "role": new.role, "enterprise": new.enterprise, "position": pos}


@router.post(
    "/tokens", status_code=201, response_class=JSON, response_model=dict[str, Any],
    responses=responses(401, 403, 422),
)  # fmt: skip
def issue_token(principal: CurrentPrincipal, store: PrimaryStore, new: NewToken) -> Any:
    """Issue a token for a principal (admins). The token is in this response and nowhere else."""
    require(principal, "principals.manage")
    if new.expires_at is not None and new.expires_at.tzinfo is None:
        raise HTTPProblem(422, "expires_at needs an offset")
    issued = reetrace.issue_token(store, new.principal, expires_at=new.expires_at, by=principal.name)
    expires = issued.expires_at.isoformat() if issued.expires_at else None
    return {"id": issued.id, "principal": issued.principal, "token": issued.token,
            "position": issued.position, "expires_at": expires}  # fmt: skip


@router.delete(
    "/tokens/{token_id}",
    response_class=JSON,
    response_model=dict[str, Any],
    responses=responses(401, 403, 404),
)
def revoke_token(principal: CurrentPrincipal, store: PrimaryStore, token_id: str) -> Any:
    """Revoke a token by its id (admins)."""
    require(principal, "principals.manage")
    try:
        pos = reetrace.revoke_token(store, token_id, by=principal.name)
    except reetrace.PrincipalError as exc:
        raise HTTPProblem(404, str(exc)) from None
    return {"id": token_id, "revoked": True, "position": pos}


@router.get("/checkpoint", response_class=JSON, response_model=dict[str, Any], responses=responses(401, 403))
def checkpoint(principal: CurrentPrincipal, store: PrimaryStore) -> Any:
    """The head of the chain (position, hash): keep it outside the service to prove history later."""
    require(principal, "checkpoint.read")
    cp = reetrace.checkpoint(store)
    return {"position": cp.position, "hash": cp.hash}
