"""Bulk writes: the same rows arrive whichever way they go (COPY on PostgreSQL past COPY_FROM, executemany)."""
from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from crisiscast.store import bulk
from crisiscast.store.models import Subscriber, utcnow

SUBSCRIBERS = Subscriber.__table__


@pytest.fixture(params=[3, bulk.COPY_FROM + 2], ids=["few", "many"])
def count(request):
    return request.param


def test_insert_and_update_rows_by_key(db, count):
    created = utcnow()
    bulk.insert_rows(db, SUBSCRIBERS, [{"phone": f"+1512555{i:04d}", "name": f"n{i}", "active": True,
                                        "created_at": created} for i in range(count)])
    db.commit()
    ids = db.scalars(select(Subscriber.id).order_by(Subscriber.id)).all()
    bulk.update_rows(db, SUBSCRIBERS, [{"id": i, "name": f"renamed {i}", "active": i % 2 == 0} for i in ids])
    db.commit()
    rows = db.execute(select(Subscriber.id, Subscriber.name, Subscriber.active, Subscriber.created_at)
                      .order_by(Subscriber.id)).all()
    assert [(r.name, r.active) for r in rows] == [(f"renamed {i}", i % 2 == 0) for i in ids]
    assert {r.created_at for r in rows} == {created}


def test_a_naive_datetime_is_refused_either_way(db, count):
    with pytest.raises((ValueError, StatementError), match="naive datetime"):
        bulk.insert_rows(db, SUBSCRIBERS, [{"phone": f"+1512555{i:04d}", "name": "", "active": True,
                                            "created_at": datetime(2026, 1, 1)} for i in range(count)])
    db.rollback()


def test_an_update_after_a_rolled_back_one_still_works(db, count):
    """The staging table of a rolled-back transaction is gone with it; the next update makes it again."""
    bulk.insert_rows(db, SUBSCRIBERS, [{"phone": f"+1512555{i:04d}", "name": "", "active": True,
                                        "created_at": utcnow()} for i in range(count)])
    db.commit()
    ids = db.scalars(select(Subscriber.id)).all()
    bulk.update_rows(db, SUBSCRIBERS, [{"id": i, "name": "rolled back"} for i in ids])
    db.rollback()
    bulk.update_rows(db, SUBSCRIBERS, [{"id": i, "name": "kept"} for i in ids])
    db.commit()
    assert set(db.scalars(select(Subscriber.name))) == {"kept"}
