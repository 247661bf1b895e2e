"""StoreHealth: what the log says when the shared limit store fails and comes back."""

from __future__ import annotations

import logging

from api.limits import StoreHealth


def test_an_outage_is_logged_once_without_the_password(caplog):
    health = StoreHealth("redis://:s3cret-pass@cache.internal:6380/0")
    with caplog.at_level(logging.INFO, logger="api.limits"):
        for _ in range(50):
            health.failed(ConnectionError("refused"))
        health.recovered()
        health.recovered()
        health.failed(TimeoutError("frozen"))
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 3
    assert "redis://cache.internal:6380 is unreachable (refused)" in lines[0]
    assert "answers again" in lines[1]
    assert "(frozen)" in lines[2]
    assert "s3cret" not in caplog.text
    assert health.down is True
