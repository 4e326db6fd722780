from __future__ import annotations

from cxstream.domain.access.throttle import FailedLogins


def test_repeated_wrong_credentials_wait_longer_up_to_a_ceiling_and_a_success_clears_them() -> None:
    logins = FailedLogins(free=3, base_ms=100, max_ms=1_000, forget_ms=60_000)
    waits = []
    for i in range(10):
        waits.append(logins.delay_ms("10.0.0.7", i))
        logins.failed("10.0.0.7", i)
    assert waits == [0, 0, 0, 0, 100, 200, 400, 800, 1_000, 1_000]
    assert logins.delay_ms("10.0.0.8", 10) == 0  # another client is not slowed down
    logins.succeeded("10.0.0.7")
    assert logins.delay_ms("10.0.0.7", 11) == 0


def test_a_quiet_client_is_forgotten_and_memory_is_bounded() -> None:
    logins = FailedLogins(free=0, base_ms=100, forget_ms=1_000, clients=50)
    logins.failed("a", 0)
    assert logins.delay_ms("a", 500) == 100 and logins.delay_ms("a", 1_501) == 0
    for i in range(500):
        logins.failed(f"c{i}", 2_000)
    assert logins.delay_ms("c0", 2_000) == 0 and logins.delay_ms("c499", 2_000) == 100  # the oldest went first
