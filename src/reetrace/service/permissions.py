"""Who may do what: one matrix, one question. Every route (and every workbench page) asks
``allowed(principal, action, resource)`` and nothing else decides.

Roles:

- ``enterprise`` acts for one enterprise: submits only for it, reads only its own submissions,
  receipts, events and lots, and, for a lot it holds or held, the origin summary of its trace;
- ``inspector`` reads everything: lots, events, traces in every format, the audit, the quota report,
  the submission status of every enterprise;
- ``admin`` runs the service: loads the registry, manages principals and tokens, may submit a historical
  load with a given time of receipt, and reads submission status. It does not read flows, traces or
  findings (separation of duties: running the service is not inspecting the industry).

Public (no token, no principal; :data:`PUBLIC`): the transparency log under ``/v1/log`` (the signed
checkpoint, consistency and inclusion proofs, subtree hashes). The log is public evidence and those
answers reveal only hashes and a signed note, never what a record says; witnesses and receipt holders
must be able to read them without an account.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reetrace import Principal
from reetrace.service.problems import HTTPProblem


@dataclass(frozen=True)
class Resource:
    """What an action is about: the enterprise that owns it, and the enterprises that hold a lot."""

    enterprise: str | None = None
    holders: frozenset[str] = field(default_factory=frozenset)


ANY = Resource()

#: action -> roles allowed whatever the resource
_ROLES: dict[str, frozenset[str]] = {
    "submission.create": frozenset({"admin"}),
    "submission.received_at": frozenset({"admin"}),
    "submission.read": frozenset({"inspector", "admin"}),
    "status.read": frozenset({"inspector", "admin"}),
    "events.read": frozenset({"inspector"}),
    "lot.read": frozenset({"inspector"}),
    "lot.search": frozenset({"inspector"}),
    "trace.full": frozenset({"inspector"}),
    "trace.summary": frozenset({"inspector"}),
    "audit.read": frozenset({"inspector"}),
    "quota.read": frozenset({"inspector"}),
    "registry.read": frozenset({"enterprise", "inspector", "admin"}),
    "registry.load": frozenset({"admin"}),
    "principals.manage": frozenset({"admin"}),
    "checkpoint.read": frozenset({"enterprise", "inspector", "admin"}),
    "epcis.capture": frozenset({"admin"}),
    "epcis.capture.read": frozenset({"inspector", "admin"}),
    "epcis.query": frozenset({"inspector"}),
}

#: actions an enterprise principal may do on what its own enterprise owns
_OWN = frozenset({
    "submission.create", "submission.read", "events.read", "lot.search",
    "epcis.capture", "epcis.capture.read", "epcis.query",
})  # fmt: skip
#: actions an enterprise principal may do on a lot its enterprise holds or held
_HELD = frozenset({"lot.read", "trace.summary"})

#: actions anyone may do, without a token (the routes that serve them take no principal)
PUBLIC = frozenset({"log.read"})

ACTIONS = (*_ROLES, *sorted(PUBLIC))


def allowed(principal: Principal, action: str, resource: Resource = ANY) -> bool:
    """May ``principal`` do ``action`` on ``resource``? Unknown actions are refused."""
    if action in PUBLIC:
        return True
    if action not in _ROLES:
        return False
    if principal.role in _ROLES[action]:
        return True
    if principal.role != "enterprise" or principal.enterprise is None:
        return False
    if action in _OWN:
        return resource.enterprise == principal.enterprise
    if action in _HELD:
        return principal.enterprise in resource.holders
    return False


def require(principal: Principal, action: str, resource: Resource = ANY) -> None:
    """:func:`allowed` or 403."""
    if not allowed(principal, action, resource):
        raise HTTPProblem(403, f"{principal.name} ({principal.role}) may not {action}")
