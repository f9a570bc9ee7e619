"""How long an SMS fan-out takes. Twilio's limits are message segments per second (MPS) per sender: a text of
three segments takes three of the sender's turns, so the time is the total segments over the MPS."""
from __future__ import annotations

from dataclasses import dataclass

# SMS_SENDER_TYPE -> how the preview names it.
SENDER_TYPES = {
    "long_code": ("a long code", "long codes"),
    "toll_free": ("a toll-free number", "toll-free numbers"),
    "10dlc": ("a 10DLC number", "10DLC numbers"),
    "short_code": ("a short code", "short codes"),
}


@dataclass(frozen=True)
class Estimate:
    """A fan-out of `segments` per text to `recipients` at `rate` segments per second from one sender or pool."""

    recipients: int
    segments: int
    rate: float
    sender_type: str = "long_code"
    pooled: bool = False  # through a Messaging Service: `rate` is its whole pool's

    @property
    def total_segments(self) -> int:
        return self.recipients * self.segments

    @property
    def seconds(self) -> float:
        return self.total_segments / self.rate

    @property
    def sender(self) -> str:
        """'a long code', or 'a Messaging Service's pool of long codes'."""
        one, many = SENDER_TYPES[self.sender_type]
        return f"a Messaging Service's pool of {many}" if self.pooled else one

    @property
    def rate_text(self) -> str:
        """'1 segment/s', '2.5 segments/s', '1,000 segments/s'."""
        shown = f"{self.rate:,.0f}" if self.rate == int(self.rate) else f"{self.rate:,.1f}".rstrip("0")
        return f"{shown} segment{'' if self.rate == 1 else 's'}/s"

    def to_dict(self) -> dict:
        """The figures the composer shows, by name."""
        return {"recipients": self.recipients, "segments": self.segments, "total_segments": self.total_segments,
                "rate": self.rate, "rate_text": self.rate_text, "seconds": self.seconds,
                "sender_type": self.sender_type, "sender": self.sender}
