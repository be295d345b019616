"""Moments on a Shanghai calendar day (the service's day, points.infra.db.today)."""
from __future__ import annotations

import datetime as dt

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def at(day: str, hour: int = 10) -> dt.datetime:
    """A moment on a Shanghai calendar day: `time_machine.travel(at("2026-08-20"))`."""
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), SHANGHAI)
