"""The console's side of texting approvers: queue the texts, and say to the author who was told."""
from __future__ import annotations

from crisiscast.services import approval_texts
from crisiscast.store.models import ApprovalRequest
from crisiscast.web import queueing
from crisiscast.web.helpers import db, settings


def ask_approvers(found: ApprovalRequest) -> str:
    """Text the approvers that `found` waits for them; returns what to tell the author."""
    return _told(approval_texts.ask(db(), settings(), found))


def tell_of_break_glass(found: ApprovalRequest) -> str:
    """Text the approvers that `found` was published without approval; returns what to tell the author."""
    return _told(approval_texts.break_glass(db(), settings(), found))


def _told(ids: list[int]) -> str:
    if not ids:
        return "No approver could be texted (no phone number on their accounts, or nobody on the list): call them."
    queued = queueing.enqueue_staff_texts(ids)
    people = f"{len(ids)} approver{'s' if len(ids) != 1 else ''}"
    return f"{people} texted." if queued else f"Texts to {people} wait for the job queue, which is unreachable."
