"""Request bodies read once, strictly, for every path: Flask's views (through the
arguments parser and `request.get_json`) and the plain routes' run (api/pipeline.py).

What no real client sends, and what would otherwise fail deep inside (a database
driver that cannot encode a lone surrogate, a recursion limit hit while validating,
Python's limit on converting long digit strings), is refused here with 400 and an
`error_code`:

- a body that is not UTF-8 or not JSON: `MALFORMED_JSON`;
- a string (value or key) holding a lone UTF-16 surrogate (`"\\ud800"`): not a
  Unicode scalar value, so no text can be stored or compared: `MALFORMED_JSON`;
- nesting deeper than `MAX_JSON_DEPTH` (no body of this API is deeper than a
  handful of levels): `MALFORMED_JSON`;
- an integer of more than 4,300 digits (Python's own conversion limit): `MALFORMED_JSON`.

`BodyReader` (WSGI, outermost) reads a chunked body of a write whole before anything
else sees it (a body on a GET or DELETE is dropped unread): a malformed one (a bad chunk header, a connection cut mid-chunk) is answered
400 `MALFORMED_BODY`, one over `MAX_CONTENT_LENGTH` (an evidence file's upload: its
own limit) 413, and the rest of the app
sees an ordinary body with a Content-Length.
"""
from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import Request
from flask.json.provider import DefaultJSONProvider

from points.i18n import gettext
from points.workflows import attachments

MAX_JSON_DEPTH = 64

# The one route whose body may be an evidence file (api/routes/attachments.py), and the
# largest body it may have: the file and the multipart form around it (its boundaries,
# headers and a long file name). Larger bodies are refused unread (`BodyReader`).
UPLOAD_PATH = "/v1/me/attachments"
UPLOAD_BODY_LIMIT = attachments.MAX_BYTES + 64 * 1024
# A JSON escape of a UTF-16 surrogate (\ud800–\udfff): only where one occurs can a
# decoded string hold a lone surrogate (raw surrogates are not valid UTF-8).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
log = logging.getLogger(__name__)
BODY_METHODS = {"POST", "PUT", "PATCH"}  # the methods whose routes read a body


class BodyRefused(json.JSONDecodeError):
    """A JSON body refused before any view sees it; `reason` says why. A
    JSONDecodeError (a ValueError), so Flask's `get_json` treats it as malformed JSON."""

    def __init__(self, reason: str, doc: str = "-") -> None:
        super().__init__(reason, doc or "-", 0)
        self.reason = reason


def load_json(raw: bytes | str) -> Any:
    """The parsed body, or BodyRefused saying what is wrong with it."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BodyRefused(gettext("the body is not valid UTF-8")) from None
        escaped = _SURROGATE_ESCAPE.search(raw) is not None
    else:
        text = raw
        escaped = "\\u" in text or _LONE_SURROGATE.search(text) is not None
    try:
        data = json.loads(text)
    except RecursionError:
        raise BodyRefused(gettext("the JSON is nested more than {max_json_depth} levels deep", max_json_depth=MAX_JSON_DEPTH),
                          text) from None
    except json.JSONDecodeError as error:
        raise BodyRefused(gettext("the body is not valid JSON ({msg} at line {lineno} column {colno})", msg=error.msg, lineno=error.lineno, colno=error.colno), text) from None
    except ValueError:  # an integer over Python's 4,300-digit conversion limit
        raise BodyRefused(gettext("a number in the body is too long (at most 4300 digits)"),
                          text) from None
    # Cheap tests first: a deep walk is needed only if the text could be that deep.
    if escaped or text.count("[") + text.count("{") > MAX_JSON_DEPTH:
        _check(data, escaped)
    return data


def _check(data: Any, surrogates: bool) -> None:
    """Depth and lone surrogates, walked without recursion."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            if depth > MAX_JSON_DEPTH:
                raise BodyRefused(gettext("the JSON is nested more than {max_json_depth} levels deep", max_json_depth=MAX_JSON_DEPTH))
            for key, item in value.items():
                if surrogates and _LONE_SURROGATE.search(key):
                    raise BodyRefused(gettext("a key holds a lone UTF-16 surrogate (not Unicode text)"))
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            if depth > MAX_JSON_DEPTH:
                raise BodyRefused(gettext("the JSON is nested more than {max_json_depth} levels deep", max_json_depth=MAX_JSON_DEPTH))
            stack.extend((item, depth + 1) for item in value)
        elif surrogates and isinstance(value, str) and _LONE_SURROGATE.search(value):
            raise BodyRefused(gettext("a text holds a lone UTF-16 surrogate (not Unicode text)"))


class StrictRequest(Request):
    """A JSON body `get_json` cannot read is answered as the arguments parser answers
    it (api/smorest.py): 400 MALFORMED_JSON naming the problem."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if e is None:
            return super().on_json_loading_failed(e)  # not JSON at all: 415 as Flask says
        from flask_smorest import abort

        reason = e.reason if isinstance(e, BodyRefused) else gettext("the body is not valid JSON")
        abort(400, message=reason, messages={"json": {"_schema": [reason]}})


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON, reading with `load_json` (`request.get_json` everywhere)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return load_json(s)


# -- chunked bodies ------------------------------------------------------------------


def _chunked(environ: dict) -> bool:
    return (environ.get("CONTENT_LENGTH") in (None, "")
            and ("chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
                 or bool(environ.get("wsgi.input_terminated"))))


class BodyReader:
    """WSGI middleware reading a body without a Content-Length (chunked) in full."""

    def __init__(self, wsgi_app: Callable, max_length: Callable[[dict], int | None],
                 headers: Iterable[tuple[str, str]]) -> None:
        self.wsgi_app = wsgi_app
        self.max_length = max_length
        self.headers = list(headers)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        chunked = _chunked(environ)
        if chunked and environ.get("REQUEST_METHOD") not in BODY_METHODS:
            # No route reads a body here: it is not read at all (the server drops it).
            environ["wsgi.input"] = io.BytesIO()
            environ["CONTENT_LENGTH"] = "0"
            environ["wsgi.input_terminated"] = False
            environ.pop("HTTP_TRANSFER_ENCODING", None)
        elif chunked:
            limit = self.max_length(environ)
            try:
                body = environ["wsgi.input"].read(-1 if limit is None else limit + 1)
            except Exception as error:  # noqa: BLE001 - whatever the server's reader raises
                log.info("malformed chunked body: %s", type(error).__name__)
                return self._refuse(start_response, 400, "MALFORMED_BODY",
                                    gettext("the request body is malformed (chunked encoding)"))
            if limit is not None and len(body) > limit:
                return self._refuse(start_response, 413, "PAYLOAD_TOO_LARGE",
                                    gettext("the request body is over the size limit"))
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ["wsgi.input_terminated"] = False
            environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.wsgi_app(environ, start_response)

    def _refuse(self, start_response: Callable, status: int, error_code: str,
                message: str) -> Iterable[bytes]:
        from api.errors import refuse

        return refuse(start_response, status, error_code, message,
                      [*self.headers, ("Connection", "close")])
