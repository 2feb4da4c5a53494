"""Limits on the work an unauthenticated caller can cause, per client address (security.md,
"Input and load"): one token bucket per address, in this process."""

from __future__ import annotations

from ssooidc.services.clock import Clock

MAX_ADDRESSES = 10_000


class AddressLimiter:
    """``rate`` requests a minute per client address, in bursts of up to ``rate``; 0 turns the
    limit off. Each worker process counts for itself."""

    def __init__(self, rate: int, clock: Clock) -> None:
        self.rate = rate
        self._clock = clock
        # address -> (tokens left, when they were counted); oldest first.
        self._buckets: dict[str, tuple[float, float]] = {}

    def admit(self, address: str | None) -> bool:
        """Take one token from the address's bucket; False when it is empty."""
        if self.rate <= 0:
            return True
        key = address or "-"
        now = self._clock.now()
        tokens, counted = self._buckets.pop(key, (float(self.rate), now))
        tokens = min(float(self.rate), tokens + max(0.0, now - counted) * self.rate / 60)
        admitted = tokens >= 1
        self._buckets[key] = (tokens - 1 if admitted else tokens, now)
        if len(self._buckets) > MAX_ADDRESSES:
            self._forget(now)
        return admitted

    def retry_after(self, address: str | None) -> int:
        """Seconds until the address's bucket holds a token again."""
        tokens, _counted = self._buckets.get(address or "-", (float(self.rate), 0.0))
        if self.rate <= 0 or tokens >= 1:
            return 0
        return max(1, round((1 - tokens) * 60 / self.rate))

    def _forget(self, now: float) -> None:
        """Drop full buckets (a minute untouched), then the oldest, to bound memory."""
        for key, (_tokens, counted) in list(self._buckets.items()):
            if now - counted < 60 or len(self._buckets) <= MAX_ADDRESSES:
                break
            del self._buckets[key]
        while len(self._buckets) > MAX_ADDRESSES:
            del self._buckets[next(iter(self._buckets))]
