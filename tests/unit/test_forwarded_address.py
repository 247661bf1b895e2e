"""The forwarded client address without the port Azure's front ends add (api/security.py)."""

from __future__ import annotations

import pytest

from api.security import address_without_port


@pytest.mark.parametrize(
    ("given", "address"),
    [
        ("203.0.113.7:51234", "203.0.113.7"),
        ("203.0.113.7", "203.0.113.7"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("::1", "::1"),
        ("unknown", "unknown"),
    ],
)
def test_the_port_goes_and_the_address_stays(given, address):
    assert address_without_port(given) == address
