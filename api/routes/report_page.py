"""The web page of a shared worker report: `GET /r/{token}`.

What a family sees when it scans the worker's QR code with any phone: a page
rendered on the server (no script), readable on a 360 px wide screen, in Chinese
unless the browser asks for English (`Accept-Language: en`) or the link says
`?lang=en` (the page links to its other language: a phone's browser language
decides otherwise). No sign-in: the link is the worker's authorisation. Each view
goes through the same domain function as `GET /v1/reports/{token}`, so it is logged
in the worker's access log. An unknown token gets a 404 page, an expired or revoked
one a 410 page, in the same language. WeChat's check file for opening these links
in the mini-program is served here too (docs/worker-report.md).
"""
from __future__ import annotations

import secrets

from flask import Response, current_app, render_template, request

from api.access import public
from api.context import cipher, db_session, redis_client
from api.smorest import Blueprint
from points import i18n
from points.employment import report_text, reports
from points.errors import Gone, NotFound
from points.infra.db import SHANGHAI, today

blp = Blueprint("report_page", __name__, url_prefix="/r",
                description="The worker report page a family opens from the QR code")

HTML = {"type": "string"}
LANG_PARAMETER = {
    "name": "lang", "in": "query", "required": False,
    "schema": {"type": "string", "enum": list(i18n.LOCALES)},
    "description": "The page's language (zh or en), over the browser's Accept-Language; "
                   "the page links to its other language with it. Any other value is "
                   "ignored."}
# Each language as the switch to it names it, in its own language.
LANGUAGES = {"zh": {"code": "zh", "html_lang": "zh-CN", "name": "中文"},
             "en": {"code": "en", "html_lang": "en", "name": "English"}}


def _headers(nonce: str) -> dict[str, str]:
    """No script at all; only the page's own style block (by its nonce); not framed,
    not indexed, no referrer (the token is in the URL), not cached."""
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'nonce-{nonce}'; img-src data:; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
        "X-Robots-Tag": "noindex, nofollow, noarchive",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


def _page(template: str, status: int, **context) -> Response:
    """The page in the language `?lang=` names, else the request's (`Accept-Language`)."""
    nonce = secrets.token_urlsafe(16)
    asked = request.args.get("lang")
    with i18n.use_locale(asked if asked in i18n.LOCALES else i18n.current_locale()):
        locale = i18n.current_locale()
        other = next(code for code in i18n.LOCALES if code != locale)
        html = render_template(template, nonce=nonce, gettext=i18n.gettext,
                               html_lang=LANGUAGES[locale]["html_lang"],
                               other_language=LANGUAGES[other], **context)
    return Response(html, status=status, mimetype="text/html",
                    headers={**_headers(nonce), "Content-Language": locale})


@blp.route("/<string:token>")
@public
@blp.doc(parameters=[LANG_PARAMETER])
@blp.response(200, HTML, content_type="text/html",
              description="The report as a mobile page (Chinese; English with "
                          "Accept-Language: en or ?lang=en)")
@blp.alt_response(404, schema=HTML, content_type="text/html",
                  description="No such report link (a page in the same language)")
@blp.alt_response(410, schema=HTML, content_type="text/html",
                  description="The link expired or was revoked (a page in the same language)")
@blp.errors()
def view(token):
    """The worker's credit report as a web page (no sign-in; each view is logged).

    No sign-in: the link is the worker's authorisation. A mobile page (no script) with
    the report, what the safety code's colour and the level mean, and until when the
    link is valid; 404 and 410 are pages too. Chinese, English with `Accept-Language:
    en` or `?lang=en` (the page links to its other language).
    """
    check_file = current_app.config.get("WECHAT_QRCODE_CHECK_FILE")
    if check_file and token == check_file:
        # WeChat checks that we own the rule "/r/" by this file in that folder;
        # a token (URL-safe base64) never has a dot, so it is never this name.
        return Response(current_app.config["WECHAT_QRCODE_CHECK_CONTENT"], mimetype="text/plain")
    try:
        if request.method == "HEAD":
            # Asking whether the link works (a link checker, a chat app's preview)
            # reads nothing of the report, so it is not a view.
            reports.open_share(db_session(), token)
            return Response(status=200, mimetype="text/html", headers=_headers("none"))
        report = reports.view_report(db_session(), redis_client(), cipher(), token, None,
                                     today())
    except NotFound:
        return _page("report/not_found.html", 404)
    except Gone:
        return _page("report/gone.html", 410)
    url = reports.report_url(current_app.config["PUBLIC_BASE_URL"], token)
    return _page("report/report.html", 200, r=report, t=report_text, url=url,
                 expires=report["expires_at"].astimezone(SHANGHAI))
