"""The language of each request: `Accept-Language` chooses among `points.i18n.LOCALES`,
Chinese when it names none of them (or is absent).

A WSGI middleware outside every other layer sets it, so that whatever answers — a
plain route's run, a refused body, a view, an error handler — answers in the same language;
every answer says which (`Content-Language`) and that it depends on the header
(`Vary: Accept-Language`)."""
from __future__ import annotations

from collections.abc import Callable, Iterable

from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from points import i18n


def negotiate(header: str | None) -> str:
    """The locale for an `Accept-Language` value: `zh-CN` → zh, `en-US,en;q=0.9` → en."""
    if not header:
        return i18n.DEFAULT_LOCALE
    return parse_accept_header(header, LanguageAccept).best_match(
        i18n.LOCALES, default=i18n.DEFAULT_LOCALE)


class RequestLocale:
    def __init__(self, wsgi_app: Callable) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        locale = negotiate(environ.get("HTTP_ACCEPT_LANGUAGE"))

        def with_language(status, headers, exc_info=None):
            said = varies = False  # one pass over the headers: every answer comes here
            for name, value in headers:
                name = name.lower()
                if name == "content-language":
                    said = True
                elif name == "vary" and "accept-language" in value.lower():
                    varies = True
            if not said:
                headers.append(("Content-Language", locale))
            if not varies:
                headers.append(("Vary", "Accept-Language"))
            return start_response(status, headers, exc_info)

        token = i18n.set_locale(locale)
        try:
            return self.wsgi_app(environ, with_language)
        finally:
            i18n.reset_locale(token)
