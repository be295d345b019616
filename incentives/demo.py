"""Demo merchants and perks for `seed-demo` (idempotent: a second run adds nothing)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from incentives.models import Merchant, MerchantStaff, Perk
from points.infra.db import utcnow
from points.models import User

# (name, uscc, sector, [(title, description, min_level, benefit, quota, per-resident limit)])
DEMO_MERCHANTS = [
    ("岳麓山景区（演示）", "91430104MA4L0YL7XL", "tourism", [
        ("门票八折", "信用等级 A 及以上的居民凭一次性核验码购票享八折优惠。", "A",
         {"kind": "discount", "value": "8折"}, 1000, 2),
        ("充电宝免押金租借", "信用等级 AA 及以上的居民在景区服务点免押金租借充电宝。", "AA",
         {"kind": "deposit_free", "value": "免押金 99 元"}, 300, 1),
    ]),
    ("雨花区诚信家政服务有限公司（演示）", "91430111MA4Q2K3P82", "housekeeping", [
        ("优先预约上门服务", "信用等级 AA 及以上的居民预约保洁、月嫂等服务时优先排期。", "AA",
         {"kind": "priority", "value": "优先排期"}, 500, 3),
    ]),
]
DEMO_PERK_DAYS = 365


def seed_incentives(session: Session, owner_user: User, today: dt.date) -> list[str]:
    """Approved demo merchants owned by `owner_user`, each with its perks.
    Returns the lines `seed-demo` prints."""
    lines: list[str] = []
    now = utcnow()
    for name, uscc, sector, perk_specs in DEMO_MERCHANTS:
        merchant = session.execute(select(Merchant).where(Merchant.uscc == uscc)).scalar()
        if merchant is None:
            merchant = Merchant(name=name, uscc=uscc, sector=sector, status="approved",
                                applicant_user_id=owner_user.id, created_at=now, decided_at=now)
            session.add(merchant)
            session.flush()
        owner = session.execute(select(MerchantStaff).where(
            MerchantStaff.merchant_id == merchant.id,
            MerchantStaff.user_id == owner_user.id)).scalar()
        if owner is None:
            session.add(MerchantStaff(merchant_id=merchant.id, user_id=owner_user.id,
                                      role="owner", added_at=now))
        titles = []
        for title, description, min_level, benefit, quota, limit in perk_specs:
            perk = session.execute(select(Perk).where(
                Perk.merchant_id == merchant.id, Perk.title == title)).scalar()
            if perk is None:
                perk = Perk(merchant_id=merchant.id, title=title, description=description,
                            min_level=min_level, benefit=benefit, total_quota=quota, used=0,
                            per_resident_limit=limit, valid_from=today,
                            valid_until=today + dt.timedelta(days=DEMO_PERK_DAYS), active=True,
                            version=1, created_at=now, updated_at=now)
                session.add(perk)
                session.flush()
            titles.append(f"#{perk.id} {perk.title} ({perk.min_level} and above)")
        session.flush()
        lines.append(f"merchant #{merchant.id} {merchant.name} ({merchant.sector}, "
                     f"{merchant.status}), owner user #{owner_user.id}; perks: "
                     + "; ".join(titles))
    lines.append("merchant staff of several merchants name one with the header "
                 "X-Merchant-Id: <merchant id> on /v1/merchant/… calls")
    return lines
