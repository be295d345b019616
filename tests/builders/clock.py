"""Moments on a Shanghai calendar day (the service's day, points.infra.db.today)."""
from __future__ import annotations

import datetime as dt

import time_machine

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def at(day: str, hour: int = 10, minute: int = 0) -> dt.datetime:
    """A moment on a Shanghai calendar day: `time_machine.travel(at("2026-08-20"))`."""
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour, minute), SHANGHAI)


def frozen_at(day: str, hour: int = 10, minute: int = 0) -> time_machine.travel:
    """The clock stopped at that moment of a Shanghai day: `with frozen_at("2026-06-15"): ...`."""
    return time_machine.travel(at(day, hour, minute), tick=False)
