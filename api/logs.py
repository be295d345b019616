"""Structured JSON logs with a request id on every line.

Personal data never reaches a log: messages are written without ID numbers,
tokens or keys, and a last filter masks anything that looks like one anyway.
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
import time

from flask import Flask, g, has_request_context, request

_SECRETS = [
    (re.compile(r"\b\d{17}[\dXx]\b"), "[id-number]"),
    (re.compile(r"\b1\d{10}\b"), "[phone]"),
    (re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+"), "[jwt]"),
    (re.compile(r"\b(rt|dk|vt|rs)_[\w-]{16,}"), "[secret]"),
    (re.compile(r"(session_key|api_key|password|secret|openid|touser|access_token)"
                r"([\"':= ]+)[^\s\"',&]+", re.IGNORECASE),
     r"\1\2[redacted]"),
    # A database error's parameters and the values PostgreSQL quotes back in its DETAIL
    # ("Key (openid)=(…) already exists"), should a driver or engine not hide them.
    (re.compile(r"\[parameters: .*?\](?=\n|$|\s*\()", re.DOTALL), "[parameters: hidden]"),
    (re.compile(r"(Key \([^)]*\))=\(.*?\)(?= already| is not| conflicts|\n|$)"),
     r"\1=([hidden])"),
    (re.compile(r"(DETAIL:\s+Failing row contains )\(.*?\)(?=\.?\n|\.?$)"), r"\1([hidden])"),
]


def scrub(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        if has_request_context():
            entry["request_id"] = g.get("request_id")
            entry["method"] = request.method
            # The route pattern, not the path: paths can carry share and code tokens.
            entry["route"] = request.url_rule.rule if request.url_rule else None
        if record.exc_info:
            entry["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def new_request_id() -> str:
    """The id of a request that came without one (X-Request-Id), in the log and the answer."""
    return os.urandom(16).hex()


def init_logging(app: Flask) -> None:
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(logging.INFO if app.config["APP_ENV"] != "testing" else logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    requests_log = logging.getLogger("api.requests")

    @app.before_request
    def _request_id() -> None:
        incoming = request.headers.get("X-Request-Id")
        g.request_id = (incoming if incoming and re.fullmatch(r"[\w-]{8,64}", incoming)
                        else new_request_id())
        g.started = time.perf_counter()

    @app.after_request
    def _echo_request_id(response):
        response.headers["X-Request-Id"] = g.get("request_id", "")
        # One line per request is opt-in (LOG_REQUESTS=true): most deployments have the
        # proxy's access log, and formatting a JSON line costs a cached read dearly.
        if app.config.get("LOG_REQUESTS") and requests_log.isEnabledFor(logging.INFO):
            elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
            requests_log.info("%s %s -> %d in %.1f ms", request.method,
                              request.url_rule.rule if request.url_rule else "-",
                              response.status_code, elapsed)
        return response
