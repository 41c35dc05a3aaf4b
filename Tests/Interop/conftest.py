import os
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from voltaic_server import VoltaicServer  # noqa: E402


@pytest.fixture(scope="session")
def server():
    s = VoltaicServer().start()
    yield s
    s.destroy()


@pytest.fixture
def station_id():
    return "CP-" + uuid.uuid4().hex[:10]


@pytest.fixture
def station(server, station_id):
    status, body = server.api("POST", "/stations", {"id": station_id, "securityProfile": 0})
    assert status == 201, body
    return station_id


def new_token(server, **fields):
    value = fields.pop("value", "T" + uuid.uuid4().hex[:12])
    status, body = server.api("POST", "/tokens", {"value": value, **fields})
    assert status == 201, body
    return value
