"""Transport limits of one connection. Sans-I/O: the caller passes the clock."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class RateLimit:
    """Audio may arrive at most ``max_rate`` times faster than real time, sustained, with
    ``burst_s`` seconds of audio ahead of that (0: no limit).

    Attributes:
        max_rate: Audio seconds per wall-clock second.
        burst_s: Audio seconds allowed ahead of the rate.
        first_s: Clock time (s) of the first audio, once seen.
    """

    max_rate: float
    burst_s: float
    first_s: float | None = None

    def allows(self, received_s: float, now_s: float) -> bool:
        """Whether ``received_s`` of audio in all, at clock time ``now_s``, is within the limit."""
        if self.first_s is None:
            self.first_s = now_s
        if self.max_rate <= 0:
            return True
        return received_s <= self.max_rate * (now_s - self.first_s) + self.burst_s
