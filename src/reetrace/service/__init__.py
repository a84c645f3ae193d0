"""``reetrace serve``: the store behind an HTTP service with identities (FastAPI on uvicorn).

The service uses only the public library API (:mod:`reetrace`). Who may do what is decided in one place,
:func:`reetrace.service.permissions.allowed`; every route asks it. The web workbench builds on the same
two pieces: the dependency :func:`current_principal` and :func:`allowed`.
"""

from reetrace.service.app import create_app
from reetrace.service.auth import current_principal
from reetrace.service.permissions import Resource, allowed, require

__all__ = ["Resource", "allowed", "create_app", "current_principal", "require"]
