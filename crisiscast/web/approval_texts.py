"""Texts to approvers: a new request (with the link that opens it) and a break-glass publish."""
from __future__ import annotations

from crisiscast.store.models import ApprovalRequest


def ask_approvers(found: ApprovalRequest) -> str:
    """Text the approvers that `found` waits for them; returns what to tell the author."""
    return ""


def tell_of_break_glass(found: ApprovalRequest) -> str:
    """Text the approvers that `found` was published without approval; returns what to tell the author."""
    return ""
