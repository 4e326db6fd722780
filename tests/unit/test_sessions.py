from __future__ import annotations

import pytest

from cxstream.domain.access.principal import token_hash
from cxstream.domain.access.sessions import Sessions, derived_key

KEY = derived_key('[{"name": "wall", "role": "viewer", "token": "tok-1"}]')


def test_a_session_names_the_token_by_hash_until_it_expires() -> None:
    sessions = Sessions(KEY, ttl_ms=60_000)
    value = sessions.issue(token_hash("tok-1"), now_ms=1_000)
    assert "tok-1" not in value
    assert sessions.verify(value, now_ms=60_999) == token_hash("tok-1")
    assert sessions.verify(value, now_ms=61_000) is None  # expired


def test_a_forged_or_altered_session_is_refused() -> None:
    sessions = Sessions(KEY, ttl_ms=60_000)
    value = sessions.issue(token_hash("tok-1"), now_ms=0)
    version, expiry, sha, signature = value.split(".")
    assert sessions.verify(f"{version}.{int(expiry) * 10}.{sha}.{signature}", 0) is None  # a longer life
    assert sessions.verify(f"{version}.{expiry}.{token_hash('tok-admin')}.{signature}", 0) is None  # another token
    assert Sessions(derived_key("another secret"), 60_000).verify(value, 0) is None  # another key
    for junk in ("", "tok-1", "v1.x.y.z", "v2." + value[3:], value + "."):
        assert sessions.verify(junk, 0) is None
    with pytest.raises(ValueError, match="16 bytes"):
        Sessions(b"short", 1)
