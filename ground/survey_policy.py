"""The survey policy: how long after closure, when, how often, and what ends the tries."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ground.calling_window import CallingWindow
from ground.tables.callbacks import TryOutcome

FINAL_OUTCOMES = frozenset({TryOutcome.ANSWERED, TryOutcome.REFUSED, TryOutcome.SKIPPED})
RETRY_OUTCOMES = frozenset({TryOutcome.NO_ANSWER, TryOutcome.BUSY, TryOutcome.FAILED, TryOutcome.WRONG_PERSON})
NOT_SURVEYED_TYPES = frozenset({"praise"})


@dataclass(frozen=True)
class SurveyPolicy:
    """Configurable by environment (see README, 'Satisfaction callbacks'): built by ground.settings."""

    delay: timedelta = timedelta(hours=2)           # after closure, before the first try
    window: CallingWindow = field(default_factory=CallingWindow)
    max_attempts: int = 3
    retry_spacing: tuple[timedelta, ...] = (timedelta(hours=2), timedelta(hours=24))  # last one repeats
    busy_spacing: timedelta = timedelta(minutes=30)  # "I'm busy / call later"
    lease: timedelta = timedelta(minutes=2)          # a worker renews it while its call runs
    max_call: timedelta = timedelta(minutes=6)       # a call still running after this is hung up
    chat_wait: timedelta = timedelta(days=3)         # a chat survey waits this long for the citizen's visit
    satisfaction_weight: float = 0.8                 # weight of 基本满意 in the satisfaction rate

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not self.retry_spacing:
            raise ValueError("retry_spacing needs at least one interval")
        if not 0.0 <= self.satisfaction_weight <= 1.0:
            raise ValueError("satisfaction_weight must be within 0..1")

    def first_try(self, closed_at: datetime) -> datetime:
        """When the first try is due for a ticket closed at `closed_at`."""
        return self.window.next_open(closed_at + self.delay)

    def next_try(self, tries: int, outcome: str, now: datetime) -> datetime | None:
        """When to try again after `tries` counted tries ending in `outcome`; None when done."""
        if outcome not in RETRY_OUTCOMES or tries >= self.max_attempts:
            return None
        if outcome == TryOutcome.BUSY:
            spacing = self.busy_spacing
        else:
            spacing = self.retry_spacing[min(tries, len(self.retry_spacing)) - 1]
        return self.window.next_open(now + spacing)
