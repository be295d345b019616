"""The pipeline's lean driver (api/pipeline.py) as a WSGI server calls it, and the
hooks it must know."""
from __future__ import annotations

import io
import sys

import pytest

from api import pipeline
from tests.builders.residents import resident, valid_id


def _get(app, path: str, headers: dict, **environ) -> tuple[str, bytes]:
    """A GET as gunicorn passes it on: CONTENT_LENGTH '0' on every request without a body."""
    base = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "",
            "SERVER_NAME": "test", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr, "REMOTE_ADDR": "127.0.0.1", "CONTENT_LENGTH": "0",
            **{"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()},
            **environ}
    status = []
    body = b"".join(app(base, lambda line, headers, exc_info=None: status.append(line)))
    return status[0], body


def test_a_get_with_content_length_zero_is_run_plain(app, client, dispatched):
    person = resident(client, id_number=valid_id(seq=941))
    dispatched.clear()
    status, body = _get(app, "/v1/me/points", person["headers"])
    assert status == "200 OK" and dispatched == [], body
    status, _ = _get(app, "/v1/me/points", person["headers"], CONTENT_LENGTH="12")
    assert status == "200 OK" and dispatched == [1]  # a body: not the plain run's


def test_an_app_with_a_hook_the_plain_run_does_not_know_refuses_to_start(app, monkeypatch):
    pipeline.check_hooks(app)  # the app as made: every hook known

    def audit():
        return None

    monkeypatch.setitem(app.before_request_funcs, None,
                        [*app.before_request_funcs[None], audit])
    with pytest.raises(RuntimeError, match="audit"):
        pipeline.check_hooks(app)
