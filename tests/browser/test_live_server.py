"""The server the browser tests run the console on: a connection the browser resets
once an answer has started leaves no file open. Werkzeug's development server, given
the app as is, leaves the static file open when the reset reaches it while it reads
the rest of the request, and the collector reports the file in whichever test runs
then."""
from __future__ import annotations

import gc
import socket
import struct
import sys
import threading
import time
from pathlib import Path

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.builders.servers import free_port, whole_answers

STATIC = Path(__file__).resolve().parents[2] / "api" / "console" / "static"


class Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


class Answer:
    """A WSGI answer in two parts that records whether it was closed."""

    def __init__(self):
        self.closed = False

    def __iter__(self):
        yield b"part one, "
        yield b"part two"

    def close(self):
        self.closed = True


def test_an_answer_is_read_whole_and_closed_before_the_server_writes_it():
    answer = Answer()
    started = []

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return answer

    body = whole_answers(app)({}, lambda status, headers: started.append(status))
    assert started == ["200 OK"]
    assert answer.closed is True
    assert body == [b"part one, part two"]


def test_connections_reset_mid_answer_leave_no_file_open(monkeypatch):
    app = Flask(__name__, static_folder=str(STATIC))
    port = free_port()
    server = make_server("127.0.0.1", port, whole_answers(app), threaded=True,
                         request_handler=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    try:
        for _ in range(20):
            client = socket.create_connection(("127.0.0.1", port))
            client.sendall(b"GET /static/console.js HTTP/1.1\r\nHost: console\r\n\r\n")
            client.recv(1)  # the answer has started: the browser leaves the page
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()  # reset, while the server still looks for more of the request
        time.sleep(0.5)  # the server's threads finish with the reset connections
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
    gc.collect()
    assert [repr(u.exc_value) for u in unraisable] == []
