"""The API's door: a token from ``Authorization: Bearer`` or the page's session cookie, looked up by hash.
``401`` without a known token, ``403`` outside the token's role or scope. Tokens are never logged: the
audit log names the token's holder."""

from __future__ import annotations

from typing import Any

from cxstream.domain.access.principal import Access, Principal
from cxstream.observability.logging import get_logger

COOKIE = "cxstream_session"
log = get_logger(__name__)


class Denied(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bearer(request: Any) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return str(header.removeprefix("Bearer ").strip()) or None
    cookie = request.cookies.get(COOKIE)
    return str(cookie) if cookie else None


class Gate:
    def __init__(self, access: Access) -> None:
        self.access = access

    def principal(self, request: Any) -> Principal:
        found = self.access.authenticate(bearer(request))
        if found is None:
            raise Denied(401, "a valid API token is required (Authorization: Bearer <token>)")
        return found

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
