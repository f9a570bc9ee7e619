"""Drafts saved as the author types: one per author, restored when the composer opens after a lost session."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from crisiscast.core.domain import BODY_MAX, HEADLINE_MAX, INCIDENT_MAX
from crisiscast.core.promise import CLOCK_MAX
from crisiscast.core.text import clean
from crisiscast.store.models import SavedDraft, Update, User, utcnow

# The composer's fields and the most each may hold here (a little over the publish limits, so a draft that is
# too long is kept as typed and the preview says what to cut).
FIELDS = {"incident": INCIDENT_MAX * 2, "er_access": 32, "operating_status": 32, "headline": HEADLINE_MAX * 2,
          "next_at": CLOCK_MAX, "no_further_updates": 1, "body": BODY_MAX * 2, "corrects": 32, "uid": 32,
          "keep_earlier": 1, "template": 12, "exercise": 8}
CHOICES = {"channels": 8, "lists": 50}
STARTED = "started_at"


def save(session: Session, user: User, form) -> SavedDraft:
    """Keep the composer's current `form` (a mapping of strings, or lists for channels and lists) for `user`."""
    values = {name: clean(_one(form.get(name)))[:limit] for name, limit in FIELDS.items()}
    values.update({name: [clean(v)[:60] for v in _many(form.get(name))][:limit] for name, limit in CHOICES.items()})
    draft = session.scalar(select(SavedDraft).where(SavedDraft.user_id == user.id))
    if draft is None:
        draft = SavedDraft(user_id=user.id, values=values)
        session.add(draft)
    # When this update (by its uid) was first saved: where the drill report's timeline starts.
    same = draft.values and draft.values.get("uid") == values["uid"] and draft.values.get(STARTED)
    values[STARTED] = same or utcnow().isoformat()
    draft.values, draft.saved_at = values, utcnow()
    session.commit()
    return draft


def finish(session: Session, user: User, update: Update) -> None:
    """After `update` is published from `user`'s composer: note when its draft was first saved, forget the draft."""
    draft = load(session, user)
    if draft is not None and draft.values.get("uid") == update.uid and draft.values.get(STARTED):
        started = datetime.fromisoformat(draft.values[STARTED])
        update.composed_at = min(started, update.published_at)
    discard(session, user)


def load(session: Session, user: User) -> SavedDraft | None:
    """The draft `user` left, if any."""
    return session.scalar(select(SavedDraft).where(SavedDraft.user_id == user.id))


def discard(session: Session, user: User) -> None:
    """Forget `user`'s draft (after it was published, or when they throw it away)."""
    session.execute(delete(SavedDraft).where(SavedDraft.user_id == user.id))
    session.commit()


def _one(value) -> str:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else ""
    return value if isinstance(value, str) else ""


def _many(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, (list, tuple)) else []
