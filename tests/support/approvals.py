"""Approval requests for tests: an approver account, and a request asked through the service as the console does."""
from __future__ import annotations

from datetime import datetime

from crisiscast.services import accounts, approval, publishing
from crisiscast.store.models import ApprovalRequest, User, utcnow

VALUES = {"incident": "Water main break", "er_access": "open", "operating_status": "limited",
          "headline": "Use the north entrance", "body": "The south lobby is closed until noon.",
          "channels": ["sms", "feed"], "lists": ["public"]}


def make_approver(session, name: str, password: str, role: str = "author") -> User:
    """A new account that may approve."""
    user = accounts.create_user(session, name, password, role, actor="test")
    return accounts.set_approver(session, user.id, True, actor="test")


def ask(session, settings, author: User, now: datetime | None = None, warnings=(), **changes) -> ApprovalRequest:
    """Ask for approval of VALUES with `changes` (a fresh uid unless one is given)."""
    values = {**VALUES, "uid": publishing.new_uid(), **changes}
    prepared = approval.prepare(session, values, settings, values["uid"])
    return approval.ask(session, author, values, prepared, list(warnings), now or utcnow())[0]
