"""Authentication: a bearer token (``Authorization: Bearer rt_<id>_<secret>``) -> a principal.

Missing, malformed, unknown, expired and revoked tokens all get the same 401: a caller learns nothing
about which tokens exist. The token is looked up on the primary, so a revocation takes effect at once on
every worker and host.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

import reetrace
from reetrace import Principal, Store
from reetrace.service.problems import HTTPProblem

bearer = HTTPBearer(auto_error=False, description="A token from `reetrace token issue`: rt_<id>_<secret>")


def primary(request: Request) -> Store:
    """The primary store: it orders the log; writes, receipts and tokens are read from it."""
    store: Store = request.app.state.store
    return store


def replica(request: Request) -> Store:
    """The store reads go to (``--read-db``; the primary when there is none)."""
    store: Store = request.app.state.read_store
    return store


def current_principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The authenticated principal of the request, or 401."""
    if creds is None or creds.scheme.lower() != "bearer":
        raise HTTPProblem(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    principal = reetrace.authenticate(primary(request), creds.credentials)
    if principal is None:
        raise HTTPProblem(
            401, "the token is not valid (unknown, expired or revoked)",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )  # fmt: skip
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
PrimaryStore = Annotated[Store, Depends(primary)]
ReadStore = Annotated[Store, Depends(replica)]
