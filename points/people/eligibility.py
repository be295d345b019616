"""Who may see credit points, as the contract says: a resident whose real-name identity
is bound (face-verified), who granted the credit_points consent, aged 18 or over.

The rules are here; api/gate.py caches what they read about an account (its
`Standing`) in Redis, so the points read needs no database round trip."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from points.errors import Conflict, DomainError, Forbidden
from points.i18n import gettext
from points.infra.crypto import DataCipher
from points.models import User
from points.people import accounts
from points.people.identity import ADULT_AGE, birth_date


@dataclass(frozen=True)
class Standing:
    """What the rules read about an account."""

    subject_id: int | None  # only a face-verified binding sets it
    credit_points: bool  # the credit_points consent is granted
    adult_from: dt.date | None  # the day the bound person turns 18


def adult_from(born: dt.date) -> dt.date:
    """The day someone born on `born` turns 18 (born on 29 February: 1 March)."""
    try:
        return born.replace(year=born.year + ADULT_AGE)
    except ValueError:
        return dt.date(born.year + ADULT_AGE, 3, 1)


def standing(session: Session, cipher: DataCipher, user: User) -> Standing:
    """The account's standing, read from the database."""
    born = birth_date(cipher.decrypt(user.subject.id_number_enc)) if user.subject else None
    return Standing(subject_id=user.subject_id,
                    credit_points=accounts.has_consent(session, user.id, "credit_points"),
                    adult_from=adult_from(born) if born else None)


def refusal(account: Standing, today: dt.date, require_consent: bool = True
            ) -> DomainError | None:
    """Why this account may not see credit points (None: it may)."""
    if account.subject_id is None:
        return Conflict(gettext("bind your real-name identity first"), "IDENTITY_REQUIRED")
    if require_consent and not account.credit_points:
        return Forbidden(gettext("grant the credit_points consent to see your points"),
                         "CONSENT_REQUIRED")
    if account.adult_from is None or today < account.adult_from:
        return Forbidden(gettext("credit points are for residents aged 18 or over"),
                         "NOT_ELIGIBLE")
    return None
