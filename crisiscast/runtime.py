"""The composition root shared by the web app and the workers: settings, database, channels, retry policy."""
from __future__ import annotations

from .channels import build_channels
from .db import make_engine, session_factory
from .delivery import RetryPolicy


class Runtime:
    """Everything a use case needs, built once per process from settings; no Flask, no RQ."""

    def __init__(self, settings):
        self.settings = settings
        self.engine = make_engine(settings["DATABASE_URL"])
        self.sessions = session_factory(self.engine)
        self.channels = build_channels(settings, self.sessions)
        self.retry_policy = RetryPolicy.from_settings(settings)

    def secrets(self) -> tuple[str, ...]:
        """Every credential the channels hold, for scrubbing text before it is stored or shown."""
        return tuple(s for channel in self.channels.values() for s in channel.secrets() if s)

    def close(self) -> None:
        self.engine.dispose()
