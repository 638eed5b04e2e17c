"""Fixtures for integration tests; helpers live in rigtools.py (imported by name, not as conftest)."""

import pytest

import rig as rigmod  # tests/rig/rig.py, put on sys.path by tests/conftest.py
from rigtools import BASE


@pytest.fixture(scope="session")
def rig():
    info = rigmod.up(hosts=3, base=BASE)
    return info


@pytest.fixture
def fresh_rig(rig):
    """Every host back to its self-signed placeholder: each test starts from plain HTTPS."""
    rigmod.reset_hosts(base=BASE)
    return rig


@pytest.fixture
def pebble_log():
    class Log:
        def __init__(self):
            self.offset = rigmod.pebble_log_mark(base=BASE)["offset"]

        def requests(self):
            return __import__('rigtools').pebble_requests(rigmod.pebble_log_since(self.offset, base=BASE))
    return Log


@pytest.fixture(scope="module")
def responder(rig):
    """The rig's OCSP responder (openssl ocsp behind its loopback front), signing with its delegated key."""
    rigmod.ocsp_mode("delegated", base=BASE)
    state = rigmod.ensure_ocsp(base=BASE)
    assert state["alive"], state
    return state
