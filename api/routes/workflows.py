"""Commitments, repairs and objections."""
from __future__ import annotations

from api.smorest import Blueprint

blp = Blueprint("workflows", __name__, url_prefix="/v1", description="Commitments, repairs and objections")
