"""Redis clients with short timeouts, and a few connections of one's own for a hot path that must not share
(or starve) a client's pool.

redis-py's pool does bookkeeping on every command (fork check, lock, metrics, a readiness poll of the
socket) that costs more CPU than the command at fan-out rates. These connections are taken off a plain list
and put back after (list.pop and list.append are atomic: no lock), so there are never more of them than
calls made at once, and at most `keep` stay open while idle.
"""
from __future__ import annotations

import threading

import redis
from redis import Redis
from redis.driver_info import DriverInfo
from redis.exceptions import ConnectionError, ResponseError, TimeoutError


def client(url: str) -> Redis:
    """A Redis client for `url` with short timeouts: a Redis that went away fails fast, it does not hang."""
    # The version given, not looked up: redis-py reads package metadata for every new connection otherwise.
    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10,
                          driver_info=DriverInfo(lib_version=redis.__version__))


class Connections:
    """Connections to `redis`'s server with its options, shown as `name` in CLIENT LIST; at most `keep` idle."""

    def __init__(self, redis: Redis, keep: int, name: str):
        pool = redis.connection_pool
        self._make = pool.connection_class
        self._kwargs = {**pool.connection_kwargs, "client_name": name}
        self._keep = max(1, keep)
        self._idle: list = []
        self._open = 0
        self._count_lock = threading.Lock()

    def call(self, *args):
        """One command and its answer, on an idle connection or a new one."""
        try:
            connection = self._idle.pop()
        except IndexError:
            connection = self._new()
        try:
            connection.send_command(*args)
            answer = connection.read_response()
        except ResponseError:  # Redis's own error reply: the connection is fine
            self._give_back(connection)
            raise
        except (ConnectionError, TimeoutError, OSError):
            self._drop(connection)
            self._drop_idle()  # Redis went away: the next call connects afresh, to the one there now
            raise
        except BaseException:
            self._drop(connection)  # interrupted (a job timeout): a reply may be left unread on it
            raise
        self._give_back(connection)
        return answer

    def _give_back(self, connection) -> None:
        if len(self._idle) < self._keep:
            self._idle.append(connection)
        else:
            self._drop(connection)

    def open(self) -> int:
        """How many connections exist right now, idle or in a call."""
        return self._open

    def _new(self):
        with self._count_lock:
            self._open += 1
        return self._make(**self._kwargs)

    def _drop(self, connection) -> None:
        connection.disconnect()
        with self._count_lock:
            self._open -= 1

    def close(self) -> None:
        """Close the idle connections (those in a call close when it ends)."""
        self._drop_idle()

    def _drop_idle(self) -> None:
        while True:
            try:
                connection = self._idle.pop()
            except IndexError:
                return
            self._drop(connection)
