"""The audit trail of every admin and department action that changes data."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from points.infra.db import utcnow
from points.models import AuditEntry


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def audit(session: Session, actor: str, action: str, target_type: str, target_id: object,
          before: dict | None = None, after: dict | None = None,
          note: str | None = None) -> AuditEntry:
    entry = AuditEntry(actor=actor, action=action, target_type=target_type,
                       target_id=str(target_id), before=_plain(before), after=_plain(after),
                       note=note, at=utcnow())
    session.add(entry)
    return entry
