"""What a delivery does at its provider: post, or take a post down. A correction's post answers the original
on X, Bluesky and Mastodon (a reply in its thread) and edits it on Facebook; a retraction deletes the posts the
update made."""
from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from crisiscast.channels import Channel, ChannelError, InDoubtError, Message, Receipt, RetryableError
from crisiscast.core.domain import DeliveryState, channel_action
from crisiscast.store.models import Delivery


# The channels on which a correction is a reply to the original post.
REPLIES = ("x", "mastodon")


class NothingToDo(ChannelError):
    """The action has nothing to act on: the post a retraction would delete never went out."""


class Waiting(RetryableError):
    """The post this action acts on has not settled yet (still sending, or in doubt): try again later."""


def perform(sessions, channel: Channel, claimed) -> Receipt:
    """Carry out `claimed` (a delivery just claimed) at `channel`'s provider."""
    if channel_action(claimed.channel)[1] == "delete":
        post_id = _post_to_delete(sessions, claimed.update_id, channel)
        try:
            return channel.delete(post_id)
        except InDoubtError as exc:  # deleting twice is harmless: no need to look it up first
            raise RetryableError(exc.message, code=exc.code) from exc
    message = message_of(claimed)
    corrects = claimed.rendering.get("corrects_update_id")
    original = _settled_post(sessions, corrects, channel.name) if corrects else None
    if original and channel.name in REPLIES:
        message = replace(message, reply_to=original)
    elif original and channel.name == "facebook":
        message = replace(message, edit=original)
    elif original and channel.name == "bluesky":  # a reply in the original's thread, as on X
        message = replace(message, reply_to=original)
    return channel.send(message)


def message_of(claimed) -> Message:
    """The stored rendering as the channel sends it."""
    r = claimed.rendering
    return Message(text=r["text"], link=r.get("link", ""), title=r.get("title", ""), uid=claimed.uid,
                   description=r.get("description", ""))


def _post_of(sessions, update_id: int, channel: str) -> Delivery | None:
    with sessions() as session:
        return session.scalar(select(Delivery).where(Delivery.update_id == update_id, Delivery.channel == channel))


def _settled_post(sessions, update_id: int, channel: str) -> str | None:
    """The id of the post `update_id` made on `channel`, once it is known to have gone out."""
    post = _post_of(sessions, update_id, channel)
    return post.provider_id if post is not None and post.state == DeliveryState.SENT else None


def _post_to_delete(sessions, update_id: int, channel: Channel) -> str:
    post = _post_of(sessions, update_id, channel.name)
    if post is None or post.state in (DeliveryState.FAILED, DeliveryState.SKIPPED) or \
            (post.state == DeliveryState.SENT and not post.provider_id):
        raise NothingToDo(f"Nothing to delete: the update was never posted on {channel.label}.",
                          code="nothing_to_delete")
    if post.state != DeliveryState.SENT:
        raise Waiting(f"The post itself is still {post.state.replace('_', ' ')}; it is deleted once that settles.",
                      code="waiting")
    return post.provider_id
