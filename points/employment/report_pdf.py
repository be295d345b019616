"""The printable PDF of a shared credit report, with its report number, the
verification link and that link's QR code.

The Chinese font is WenQuanYi Micro Hei, shipped by the `paperang-p2-fonts-cjk`
package (TrueType outlines, which reportlab can embed; Noto CJK's OpenType files
are CFF, which it cannot; the font has Latin letters too, so the English report uses
it as well). Only the characters used are embedded (a subset), so the PDF reads the
same on a viewer without any Chinese font, and its text stays extractable. The text is
in the reader's language (points.employment.report_text, points.i18n). Paragraphs wrap (CJK line
breaking in Chinese, between words in English) and flow onto further pages instead of
being cut.
"""
from __future__ import annotations

import io
from importlib import resources
from typing import Any
from xml.sax.saxutils import escape

import segno
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from points.employment import report_text as txt
from points.employment.qr import QUIET_ZONE
from points.i18n import N_, current_locale, gettext
from points.infra.db import SHANGHAI

FONT = "WenQuanYiMicroHei"
FONT_PACKAGE = "paperang_p2_fonts_cjk"
FONT_FILE = "fonts/wqy-microhei.ttc"
TITLE = N_("Changsha personal credit report")
AUTHOR = N_("Changsha personal credit points service")
# The PDF's declared language.
LANGUAGES = {"zh": "zh-CN", "en": "en"}
CODE_COLOURS = {"green": colors.HexColor("#1a7f37"), "yellow": colors.HexColor("#9a6700"),
                "red": colors.HexColor("#cf222e")}
CODE_BACKGROUNDS = {"green": colors.HexColor("#e6f4ea"), "yellow": colors.HexColor("#fff4d6"),
                    "red": colors.HexColor("#fde8e8")}
MARGIN = 18 * mm
QR_SIZE = 32 * mm
# The width of the header's labels (English labels are longer).
LABEL_WIDTH = {"zh": 18 * mm, "en": 22 * mm}


def _register_font() -> None:
    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    path = resources.files(FONT_PACKAGE).joinpath(FONT_FILE)
    with resources.as_file(path) as font_path:
        # subfontIndex 0: the proportional face of the collection (1 is monospaced).
        pdfmetrics.registerFont(TTFont(FONT, str(font_path), subfontIndex=0))


def _styles() -> dict[str, ParagraphStyle]:
    # Chinese breaks between characters (CJK line breaking); English at spaces only
    # (reportlab's default word wrapping).
    wrap = "CJK" if current_locale() == "zh" else None
    base = ParagraphStyle("body", fontName=FONT, bulletFontName=FONT, fontSize=10, leading=15,
                          wordWrap=wrap)
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=20, leading=26),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=9, leading=13,
                                   textColor=colors.HexColor("#57606a")),
        "heading": ParagraphStyle("heading", parent=base, fontSize=12, leading=17,
                                  spaceBefore=8, spaceAfter=3,
                                  textColor=colors.HexColor("#0b3d91")),
        "body": base,
        "item": ParagraphStyle("item", parent=base, leftIndent=12, bulletIndent=2),
        "note": ParagraphStyle("note", parent=base, fontSize=8.5, leading=12,
                               textColor=colors.HexColor("#57606a")),
        "code": ParagraphStyle("code", parent=base, fontSize=16, leading=22),
    }


def _table_style(commands: list) -> TableStyle:
    """A table style in the report's font: a table sets its cells' font (Helvetica by
    default, which is not embedded) even when they hold paragraphs."""
    return TableStyle([("FONTNAME", (0, 0), (-1, -1), FONT), *commands])


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text), style)


class QrCode(Flowable):
    """The verification link's QR code (segno, as the app's SVGs), drawn as white
    ground and black modules with its quiet zone. Drawn on the canvas directly:
    reportlab's graphics renderer would set its default font (Helvetica, not
    embedded) on the page."""

    def __init__(self, text: str, size: float) -> None:
        super().__init__()
        self.modules = [list(row) for row in segno.make(text, error="m").matrix_iter(
            scale=1, border=QUIET_ZONE)]
        self.size = size

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return self.size, self.size

    def draw(self) -> None:
        canvas, count = self.canv, len(self.modules)
        module = self.size / count
        canvas.saveState()
        canvas.setFillColor(colors.white)
        canvas.rect(0, 0, self.size, self.size, stroke=0, fill=1)
        canvas.setFillColor(colors.black)
        for row_index, row in enumerate(self.modules):
            y = self.size - (row_index + 1) * module
            for col_index, dark in enumerate(row):
                if dark:
                    # A hair wider than a module, so no seams show between them.
                    canvas.rect(col_index * module, y, module * 1.02, module * 1.02,
                                stroke=0, fill=1)
        canvas.restoreState()


def _header(report: dict[str, Any], url: str, s: dict[str, ParagraphStyle]) -> Table:
    rows = [(gettext("Report no."), report["report_no"]),
            (gettext("Name"), report["name_masked"]),
            (gettext("ID number"), report["id_number_masked"]),
            (gettext("Occupation"), txt.occupation_name(report["occupation"])),
            (gettext("Employer"), txt.employer_name(report))]
    facts = Table([[_p(k, s["subtitle"]), _p(v, s["body"])] for k, v in rows],
                  colWidths=[LABEL_WIDTH.get(current_locale(), 18 * mm), None])
    facts.setStyle(_table_style([("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("LEFTPADDING", (0, 0), (-1, -1), 0),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                               ("TOPPADDING", (0, 0), (-1, -1), 1)]))
    qr = Table([[QrCode(url, QR_SIZE)], [_p(gettext("Scan to verify online"), s["note"])]],
               colWidths=[QR_SIZE])
    qr.setStyle(_table_style([("ALIGN", (0, 0), (-1, -1), "CENTER"),
                            ("LEFTPADDING", (0, 0), (-1, -1), 0),
                            ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    width = A4[0] - 2 * MARGIN
    table = Table([[facts, qr]], colWidths=[width - QR_SIZE - 4 * mm, QR_SIZE + 4 * mm])
    table.setStyle(_table_style([("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("LEFTPADDING", (0, 0), (-1, -1), 0),
                               ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    return table


def _code_box(report: dict[str, Any], s: dict[str, ParagraphStyle]) -> Table:
    code = report["safety_code"]
    colour = CODE_COLOURS.get(code, colors.black)
    head = ParagraphStyle("code-head", parent=s["code"], textColor=colour)
    cells = [[_p(gettext("Safety code: {name} ({code})", name=txt.code_name(code), code=code),
                 head)],
             [_p(txt.code_meaning(code), s["body"])],
             [_p(gettext("This worker: {reasons}.",
                         reasons=gettext("; ").join(txt.code_reasons(report))), s["body"])]]
    box = Table(cells, colWidths=[A4[0] - 2 * MARGIN])
    box.setStyle(_table_style([
        ("BACKGROUND", (0, 0), (-1, -1), CODE_BACKGROUNDS.get(code, colors.white)),
        ("BOX", (0, 0), (-1, -1), 1.2, colour),
        ("LEFTPADDING", (0, 0), (-1, -1), 8), ("RIGHTPADDING", (0, 0), (-1, -1), 8),
        ("TOPPADDING", (0, 0), (0, 0), 6), ("BOTTOMPADDING", (0, -1), (-1, -1), 6)]))
    return box


def _section(heading: str, lines: list[str], s: dict[str, ParagraphStyle]) -> list:
    items = [_p(line, s["item"]) for line in lines] or [_p(txt.none(), s["item"])]
    return [KeepTogether([_p(heading, s["heading"]), items[0]]), *items[1:]]


def _records(report: dict[str, Any], s: dict[str, ParagraphStyle]) -> list:
    flow: list = [_p(gettext("Negative records counting now"), s["heading"])]
    if not report["negative_records"]:
        return [*flow, _p(txt.none(), s["item"])]
    for record in report["negative_records"]:
        flow.append(Paragraph(escape(txt.record_line(record)), s["item"], bulletText="•"))
        statement = txt.statement_text(record)
        if statement:
            flow.append(_p(gettext("Own statement: {statement}", statement=statement),
                           ParagraphStyle("statement", parent=s["item"], leftIndent=22,
                                          textColor=colors.HexColor("#424a53"))))
    return flow


def _footer(canvas, doc, report_no: str) -> None:
    canvas.saveState()
    canvas.setFont(FONT, 8)
    canvas.setFillColor(colors.HexColor("#57606a"))
    canvas.drawString(MARGIN, 10 * mm, gettext("{title}  report no. {report_no}",
                                                title=gettext(TITLE), report_no=report_no))
    canvas.drawRightString(A4[0] - MARGIN, 10 * mm, gettext("page {page}", page=doc.page))
    canvas.restoreState()


def render(report: dict[str, Any], url: str) -> bytes:
    """The report as A4 pages: identity, safety code and why, level and what it
    means, checks, training, certificates, counting negative records with the
    worker's statements, reviews, and how to verify it online."""
    _register_font()
    s = _styles()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN,
                            topMargin=MARGIN, bottomMargin=MARGIN + 4 * mm,
                            title=gettext(TITLE), author=gettext(AUTHOR), invariant=True,
                            initialFontName=FONT, lang=LANGUAGES.get(current_locale(), "zh-CN"))
    expires = report["expires_at"].astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    level = (gettext("{level} ({title})", level=report["level"], title=report["level_title"])
             if report.get("level_title") else report["level"])
    flow: list = [
        _p(gettext(TITLE), s["title"]),
        _p(gettext("For employers verifying a housekeeping worker; shows no credit points and "
                   "no full ID number."), s["subtitle"]),
        Spacer(0, 4 * mm),
        _header(report, url, s),
        Spacer(0, 4 * mm),
        _code_box(report, s),
        *_section(gettext("Credit level: {level}", level=level), txt.level_lines(report), s),
        *_section(gettext("Checks"), [gettext("{check}: {result}", check=name, result=result)
                                      for name, result in txt.check_lines(report)], s),
        *_section(gettext("Training"), txt.training_lines(report), s),
        *_section(gettext("Vocational skill certificates and licences"),
                  txt.certificate_lines(report), s),
        *_records(report, s),
        *_section(gettext("Reviews"), [txt.review_line(report)], s),
        Spacer(0, 5 * mm),
        _p(gettext("Report date: {day}; the link is valid until {expires} (Beijing time).",
                   day=txt.day(report["as_of"]), expires=expires), s["note"]),
        _p(gettext("Verify at: {url}", url=url), s["note"]),
        _p(gettext("Scan the QR code or open the link to see this report as it is now; once "
                   "the link expires or the worker revokes it, it cannot be opened. Every "
                   "view is recorded in the worker's credit access log."), s["note"]),
    ]
    doc.build(flow, onFirstPage=lambda c, d: _footer(c, d, report["report_no"]),
              onLaterPages=lambda c, d: _footer(c, d, report["report_no"]))
    return buffer.getvalue()

