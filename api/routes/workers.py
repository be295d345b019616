"""Worker profiles, credit reports and credit checks."""
from __future__ import annotations

from api.smorest import Blueprint

blp = Blueprint("workers", __name__, url_prefix="/v1", description="Worker profiles, credit reports and credit checks")
