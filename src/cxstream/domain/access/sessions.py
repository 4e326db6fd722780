"""The page's sessions: a signed, expiring cookie instead of the token itself.

A session value is ``v1.<expiry ms>.<token's sha256>.<signature>``, signed with HMAC-SHA256 under a key every
worker shares (so another worker asked on the caller's behalf accepts it too). It carries no token: what it
names is the hash already in the access configuration, and it stops working at its expiry, when the key
changes, or when the token is removed. Pure: keys and clocks are given.
"""

from __future__ import annotations

import hashlib
import hmac

VERSION = "v1"


class Sessions:
    def __init__(self, key: bytes, ttl_ms: int) -> None:
        if len(key) < 16:
            raise ValueError("a session key needs at least 16 bytes")
        self._key = key
        self.ttl_ms = ttl_ms

    def _sign(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()

    def issue(self, token_sha256: str, now_ms: int) -> str:
        body = f"{VERSION}.{now_ms + self.ttl_ms}.{token_sha256}"
        return f"{body}.{self._sign(body)}"

    def verify(self, value: str, now_ms: int) -> str | None:
        """The token hash a session names, or None when it is malformed, forged or expired."""
        parts = value.split(".")
        if len(parts) != 4 or parts[0] != VERSION or not parts[1].isdigit():
            return None
        body, signature = ".".join(parts[:3]), parts[3]
        if not hmac.compare_digest(self._sign(body), signature):
            return None
        return parts[2] if now_ms < int(parts[1]) else None


def derived_key(secret: str) -> bytes:
    """A session key from a secret every worker already shares (the plain API tokens)."""
    return hmac.new(b"cxstream-session-key", secret.encode(), hashlib.sha256).digest()
