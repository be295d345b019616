"""The printable, one-page PDF of a shared credit report, with its QR code.

Chinese text uses reportlab's built-in CID font (STSong-Light): nothing is
embedded, every PDF reader ships the font, and the text stays extractable.
"""
from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from typing import Any

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from points.db import SHANGHAI

FONT = "STSong-Light"
TITLE = "长沙市个人信用报告"
OCCUPATION_NAMES = {"housekeeping": "家政服务员", "lawyer": "律师", "teacher": "教师",
                    "doctor": "医师"}
CODE_NAMES = {"green": "绿码", "yellow": "黄码", "red": "红码"}
CODE_COLOURS = {"green": colors.HexColor("#1a7f37"), "yellow": colors.HexColor("#b08800"),
                "red": colors.HexColor("#cf222e")}
CLASS_NAMES = {"minor": "轻微", "general": "一般", "serious": "严重"}
BACKGROUND_NAMES = {"clear": "无犯罪记录", "flagged": "有记录"}
MAX_ITEMS = 4  # per list, so the report stays on one page
_registered = False


def _font() -> None:
    global _registered
    if not _registered:
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
        _registered = True


def _day(value: dt.date | None) -> str:
    return value.isoformat() if value else "—"


def _certificate(cert: dict[str, Any]) -> str:
    if cert["valid_until"] is None:
        return "无记录"
    state = "有效" if cert["valid"] else "已过期"
    return f"{state}（有效期至 {_day(cert['valid_until'])}）"


def _listed(lines: Sequence[str]) -> list[str]:
    if not lines:
        return ["无"]
    shown = list(lines[:MAX_ITEMS])
    if len(lines) > MAX_ITEMS:
        shown.append(f"…… 另有 {len(lines) - MAX_ITEMS} 项，请扫码在线查看")
    return shown


def _sections(report: dict[str, Any]) -> list[tuple[str, list[str]]]:
    identity, background = report["identity"], report["background"]
    reviews = report["reviews"]
    return [
        ("身份核验", ["已核验（" + _day(identity["verified_on"]) + "）"
                     if identity["verified"] else "未核验"]),
        ("背景审查", [f"{BACKGROUND_NAMES.get(background['result'], background['result'])}"
                     f"（{_day(background['checked_on'])}）" if background["result"] else "无记录"]),
        ("健康证明", [_certificate(report["health_certificate"])]),
        ("责任保险", [_certificate(report["insurance"])]),
        ("培训记录", _listed([f"{t['course']}，{t['hours']} 学时（{_day(t['completed_on'])}）"
                             for t in report["training"]])),
        ("职业技能证书", _listed([f"{s['name']} {s['grade']}（{_day(s['obtained_on'])}）"
                                for s in report["skill_certificates"]])),
        ("执业资格", _listed([f"{OCCUPATION_NAMES.get(x['occupation'], x['occupation'])} "
                             f"{x['license_no']}（{_day(x['issued_on'])}）"
                             for x in report["licenses"]])),
        ("当前计入的失信记录", _listed([
            f"{r['title']}（{CLASS_NAMES.get(r['class'], r['class'])}，{_day(r['decided_on'])}）"
            for r in report["negative_records"]])),
        ("服务评价", [f"{reviews['count']} 条，平均 {reviews['average']} 分"
                     if reviews["count"] else "暂无评价"]),
    ]


def render(report: dict[str, Any], url: str) -> bytes:
    """One A4 page: title, masked identity, safety code, level, sections, QR code."""
    _font()
    buffer = io.BytesIO()
    width, height = A4
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    pdf.setTitle(TITLE)
    pdf.setAuthor("长沙市个人信用积分服务")
    left, y = 50, height - 60

    pdf.setFont(FONT, 20)
    pdf.drawString(left, y, TITLE)
    pdf.setFont(FONT, 10)
    pdf.drawString(left, y - 18, "（供雇主核验使用，不含信用积分分值）")

    qr = QrCodeWidget(url)
    x0, y0, x1, y1 = qr.getBounds()
    size = 110
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(qr)
    renderPDF.draw(drawing, pdf, width - 50 - size, height - 50 - size)
    pdf.setFont(FONT, 8)
    pdf.drawString(width - 50 - size, height - 60 - size, "扫码在线核验")

    y -= 50
    pdf.setFont(FONT, 12)
    occupation = OCCUPATION_NAMES.get(report["occupation"] or "", "—")
    pdf.drawString(left, y, f"姓名：{report['name_masked']}    身份证号：{report['id_number_masked']}")
    y -= 20
    pdf.drawString(left, y, f"职业：{occupation}    信用等级：{report['level']}")
    y -= 26
    code = report["safety_code"]
    pdf.setFont(FONT, 16)
    pdf.setFillColor(CODE_COLOURS.get(code, colors.black))
    pdf.drawString(left, y, f"安心码：{CODE_NAMES.get(code, code)}（{code}）")
    pdf.setFillColor(colors.black)
    y -= 34

    for heading, lines in _sections(report):
        pdf.setFont(FONT, 12)
        pdf.drawString(left, y, heading)
        y -= 16
        pdf.setFont(FONT, 10)
        for line in lines:
            pdf.drawString(left + 16, y, line[:45])
            y -= 14
        y -= 8

    expires = report["expires_at"].astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    pdf.setFont(FONT, 9)
    pdf.drawString(left, 50, f"报告日期：{_day(report['as_of'])}    链接有效期至：{expires}（北京时间）")
    pdf.drawString(left, 36, "本报告由长沙市个人信用积分服务生成；每次查看均记入本人的查询记录。")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
