"""The API's door: a token from ``Authorization: Bearer`` (the scheme in any case), or the page's session
cookie (signed and expiring, :mod:`cxstream.domain.access.sessions`; it holds no token), looked up by hash.
``401`` without a known token or a valid session, ``403`` outside the token's role or scope. Tokens are never
logged: the audit log names the token's holder."""

from __future__ import annotations

from typing import Any

from cxstream.domain.access.principal import Access, Principal, token_hash
from cxstream.domain.access.sessions import Sessions
from cxstream.domain.base import now_ms
from cxstream.observability.logging import get_logger

COOKIE = "cxstream_session"
log = get_logger(__name__)


class Denied(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bearer_token(header: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (the scheme is case-insensitive, RFC 7235)."""
    scheme, _, token = header.strip().partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


class Gate:
    def __init__(self, access: Access, sessions: Sessions) -> None:
        self.access = access
        self.sessions = sessions

    def principal(self, request: Any) -> Principal:
        header = request.headers.get("Authorization")
        if header is not None:
            found = self.access.authenticate(bearer_token(header))
        else:
            session = request.cookies.get(COOKIE)
            sha256 = self.sessions.verify(str(session), now_ms()) if session else None
            found = None if sha256 is None else self.access.by_hash(sha256)
        if found is None:
            raise Denied(401, "a valid API token is required (Authorization: Bearer <token>)")
        return found

    def session_for(self, request: Any) -> str:
        """A new session value for the token of the request (which :meth:`principal` accepted)."""
        token = bearer_token(request.headers.get("Authorization", "")) or ""
        return self.sessions.issue(token_hash(token), now_ms())

    def scoped(self, principal: Principal, region: str | None, team: str | None) -> None:
        if not principal.in_scope(region, team):
            raise Denied(403, f"{principal.name} may not see region={region} team={team}")


def refuse(view: Any, denied: Denied) -> Any:
    headers = {"WWW-Authenticate": 'Bearer realm="cxstream"'} if denied.status == 401 else None
    response = view.json({"error": denied.message}, status=denied.status)
    if headers:
        response.headers.update(headers)
    return response


def audit(principal: Principal, what: str, **fields: Any) -> None:
    """One line per write: who (the token's holder and role), what, on which record."""
    log.info("audit", actor=principal.name, role=principal.role.value, action=what, **fields)
