"""The composition root shared by the web app and the workers: settings, database, channels, retry policy."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from crisiscast.channels import build_channels
from crisiscast.sending.delivery import RetryPolicy
from crisiscast.store.db import make_engine, session_factory


class Runtime:
    """Everything a use case needs, built once per process from settings; no Flask, no RQ."""

    def __init__(self, settings):
        self.settings = settings
        self.engine = make_engine(settings["DATABASE_URL"])
        self.sessions = session_factory(self.engine)
        self.channels = build_channels(settings, self.sessions)
        self.retry_policy = RetryPolicy.from_settings(settings)
        self._sms_executor = None

    def sms_executor(self) -> ThreadPoolExecutor:
        """The thread pool SMS batches send on: SMS_WORKER_THREADS requests in flight per worker process."""
        if self._sms_executor is None:
            self._sms_executor = ThreadPoolExecutor(int(self.settings["SMS_WORKER_THREADS"]),
                                                    thread_name_prefix="sms")
        return self._sms_executor

    def prepare_channels(self) -> None:
        """Build every configured channel's SDK client now rather than on its first send."""
        for channel in self.channels.values():
            if not channel.missing_settings():
                channel.prepare()

    def secrets(self) -> tuple[str, ...]:
        """Every credential the channels hold, for scrubbing text before it is stored or shown."""
        return tuple(s for channel in self.channels.values() for s in channel.secrets() if s)

    def describe_channels(self) -> str:
        """Which channels are configured and where they send, without secrets: what the audit log keeps."""
        parts = []
        for name, channel in self.channels.items():
            missing = channel.missing_settings()
            if missing:
                parts.append(f"{name}: not configured (missing {', '.join(missing)})")
            else:
                parts.append(f"{name}: {channel.describe()}" + (f" via {channel.endpoint()}" if channel.endpoint() else ""))
        return "; ".join(parts)

    def close(self) -> None:
        if self._sms_executor is not None:
            self._sms_executor.shutdown(wait=True)
        self.engine.dispose()
