"""Signing in to the workbench: a token once, then an HttpOnly, SameSite=Strict session cookie.

The cookie holds the bearer token itself, so the web pages are exactly as stateless as the API: every
request authenticates the token against the store (a revoked or expired token stops working on the
next click, whichever worker serves it), and nothing is kept server-side. JavaScript cannot read the
cookie (HttpOnly), other sites cannot send it (SameSite=Strict), and it is ``Secure`` when the page came
over HTTPS.

Every form that changes something carries a CSRF token: an HMAC of a fixed label keyed with the
session's bearer token. Only a page rendered for this session can know it (the bearer token never
reaches the page), and it needs no server-side state either.
"""

from __future__ import annotations

import hashlib
import hmac

COOKIE = "reetrace_session"
LANG_COOKIE = "reetrace_lang"


def csrf_token(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"reetrace-csrf-v1", hashlib.sha256).hexdigest()[:40]


def csrf_ok(session_token: str | None, given: str | None) -> bool:
    if not session_token or not given:
        return False
    return hmac.compare_digest(csrf_token(session_token), given)


def safe_next(target: str | None) -> str:
    """Where to go after signing in or switching language: a path on this site only."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


__all__ = ["COOKIE", "LANG_COOKIE", "csrf_ok", "csrf_token", "safe_next"]
