"""Evidence files: small valid documents of each accepted type."""
from __future__ import annotations

import io
import os

from PIL import Image


def png(size=(24, 16), noise: bool = False) -> bytes:
    """A PNG image (`noise`: random pixels, which compress badly)."""
    out = io.BytesIO()
    image = (Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)) if noise
             else Image.new("RGB", size, (200, 30, 30)))
    image.save(out, "PNG")
    return out.getvalue()


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (30, 120, 200)).save(out, "JPEG")
    return out.getvalue()


def pdf() -> bytes:
    """A one-page blank PDF."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
