"""Merchants, perks, codes and redemptions."""
from __future__ import annotations

from api.smorest import Blueprint

blp = Blueprint("merchant", __name__, url_prefix="/v1", description="Merchants, perks, codes and redemptions")
