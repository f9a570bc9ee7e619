"""What the benchmarks share: a scratch database of their own."""
from __future__ import annotations

import os
import tempfile

from sqlalchemy import text

from crisiscast.store.db import make_engine


def bench_database(name: str):
    """(url, cleanup): a fresh database `name` on DATABASE_URL's PostgreSQL server, or a SQLite file."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgresql"):
        admin = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {name}"))

        def drop():
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            admin.dispose()

        return url.rsplit("/", 1)[0] + f"/{name}", drop
    folder = tempfile.mkdtemp(prefix=f"{name}-")
    return f"sqlite:///{folder}/{name}.db", lambda: None
