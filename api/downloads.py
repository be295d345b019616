"""A stored evidence file sent as a download: its owner's and the deciding department's
(api/routes/attachments.py) and the console's (api/console/clerk.py)."""
from __future__ import annotations

import io

from flask import send_file

from api.context import state


def send_attachment(attachment):
    """The file as a download under its name, with its own type and nosniff."""
    data = state().files.read(attachment)
    response = send_file(io.BytesIO(data), mimetype=attachment.content_type,
                         as_attachment=True, download_name=attachment.filename,
                         etag=attachment.sha256, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
