"""QR codes as standalone SVG documents.

The SVG is a document of its own (with `xmlns`), so it shows when saved as a file
or put in an `<img>` (as a data URI); it has a white background, so it scans on a
dark page or in a dark-mode app; and it keeps the quiet zone of four modules that
scanners need around the code. A `viewBox` lets it scale to any displayed size.
"""
from __future__ import annotations

import io

import segno

QUIET_ZONE = 4  # modules: the size ISO/IEC 18004 asks for around a QR code
SCALE = 4  # pixels per module at the SVG's natural size


def qr_svg(text: str, *, title: str | None = None) -> str:
    """The QR code of `text` as a standalone SVG document (error correction M)."""
    code = segno.make(text, error="m")
    buffer = io.BytesIO()
    code.save(buffer, kind="svg", scale=SCALE, border=QUIET_ZONE, dark="#000", light="#fff",
              xmldecl=False, title=title, encoding="utf-8")
    svg = buffer.getvalue().decode()
    side = code.symbol_size(scale=SCALE, border=QUIET_ZONE)[0]
    # segno writes width and height; the viewBox makes the picture scale with them.
    return svg.replace("<svg ", f'<svg viewBox="0 0 {side} {side}" ', 1)
