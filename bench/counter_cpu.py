"""Benchmark: CPU of one verify + redeem pair in-process, the plain run against Flask.

    .venv/bin/python -m bench.counter_cpu [--pairs 200] [--blocks 10]

Prepares the same database and residents as bench/redeem.py, then calls the WSGI
app directly (no HTTP server, one thread) with a scan and a grant, in alternating
blocks with the pipeline's plain run of the counter (api/pipeline.py) on and off
(`COUNTER_FAST_PATH`), so a drift of
the machine's speed hits both alike. Prints the app's CPU per pair (this process)
and PostgreSQL's (all its processes) for each: the cost of the work itself, without
gunicorn's HTTP handling and thread contention.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import sys
import time
from collections.abc import Iterator

from bench import redeem
from bench.common import cpu_seconds, report


def _call(app, access_token: str, path: str, body: dict, extra: dict | None = None
          ) -> tuple[str, bytes]:
    raw = json.dumps(body).encode()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": "",
               "SERVER_NAME": "bench", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
               "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(raw),
               "wsgi.errors": sys.stderr, "CONTENT_TYPE": "application/json",
               "CONTENT_LENGTH": str(len(raw)), "REMOTE_ADDR": "127.0.0.1",
               "HTTP_AUTHORIZATION": f"Bearer {access_token}", **(extra or {})}
    status = []
    body_out = b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
    return status[0], body_out


def _pair(app, access_token: str, codes: Iterator[str]) -> None:
    perk_id, token = next(codes).split("|", 1)
    status, body = _call(app, access_token, "/v1/merchant/verifications",
                         {"token": token, "perk_id": int(perk_id)})
    if not status.startswith("201"):
        raise SystemExit(f"verify answered {status}: {body[:200]!r}")
    status, body = _call(app, access_token, "/v1/merchant/redemptions",
                         {"verification_id": json.loads(body)["id"]},
                         {"HTTP_IDEMPOTENCY_KEY": secrets.token_hex(8)})
    if not status.startswith("201"):
        raise SystemExit(f"redeem answered {status}: {body[:200]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200, help="pairs per block")
    parser.add_argument("--blocks", type=int, default=10, help="blocks per path")
    args = parser.parse_args()
    os.environ.update(redeem.SERVER_ENV)
    redeem.prepare_database()
    access_token, all_codes = redeem.seed()
    needed = (args.blocks * 2 + 1) * args.pairs
    if needed > len(all_codes):
        raise SystemExit(f"at most {len(all_codes)} codes: fewer pairs or blocks")
    from api import create_app

    app = create_app()
    codes = iter(all_codes)
    for _ in range(args.pairs):  # warm up: seats cached, statements prepared
        _pair(app, access_token, codes)
    used = {True: [0.0, 0.0, 0], False: [0.0, 0.0, 0]}
    for _ in range(args.blocks):
        for fast in (True, False):
            app.config["COUNTER_FAST_PATH"] = fast
            own, database = time.process_time(), cpu_seconds()["postgres"]
            for _ in range(args.pairs):
                _pair(app, access_token, codes)
            used[fast][0] += time.process_time() - own
            used[fast][1] += cpu_seconds()["postgres"] - database
            used[fast][2] += args.pairs
    figures = {}
    for fast, label in ((True, "plain run"), (False, "Flask")):
        app_cpu, database, pairs = used[fast]
        figures[f"{label}: app CPU per pair"] = f"{app_cpu * 1000 / pairs:.2f} ms"
        figures[f"{label}: PostgreSQL CPU per pair"] = f"{database * 1000 / pairs:.2f} ms"
    figures["pairs per path"] = used[True][2]
    report("merchant counter in-process, one thread", figures)


if __name__ == "__main__":
    main()
