"""The private redis-server of the dev run and the tests: loopback only, and only for who knows its password."""
import stat
from pathlib import Path

import pytest
import redis

from dev.redis_server import PrivateRedis


@pytest.fixture
def server():
    running = PrivateRedis()
    yield running
    running.stop()


def test_it_answers_only_a_client_with_its_random_password(server):
    assert redis.Redis.from_url(server.url).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=server.port).ping()
    other = PrivateRedis()
    try:
        assert other.password != server.password and len(server.password) >= 32
    finally:
        other.stop()


def test_its_password_is_in_no_process_listing_and_its_file_is_owner_only(server):
    command_line = Path(f"/proc/{server.process.pid}/cmdline").read_bytes().decode()
    assert server.password not in command_line and "127.0.0.1" in command_line
    conf = Path(server.dir) / "redis.conf"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600 and stat.S_IMODE(Path(server.dir).stat().st_mode) == 0o700


def test_a_replacement_on_the_same_port_and_password_serves_the_same_url(server):
    url = server.url
    redis.Redis.from_url(url).set("left", 1)
    server.stop()
    again = PrivateRedis(server.port, server.password)
    try:
        client = redis.Redis.from_url(url)
        assert again.url == url and client.ping() and client.get("left") is None
    finally:
        again.stop()
