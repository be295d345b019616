"""Benchmark: the CPU instructions of one request, counted by callgrind, this checkout
beside another.

    .venv/bin/python -m bench.instructions [--other ../baseline] [--reads 300] [--pairs 150]

Timings on this machine drift by up to 2.5× from one run to the next; callgrind
(valgrind's instruction counter) counts the same instructions for the same work
whatever else the machine is doing, to about 1 %. It counts, in-process (the WSGI app
called directly: no HTTP server, one thread), only the requests themselves: counting
is switched on around them (`callgrind_control -i on/off`), so imports, the app's
set-up and the seeding are not counted. What is counted:

- `points read`: GET /v1/me/points of a resident whose score is cached (as
  bench/points_read.py seeds it), beside the bare Flask endpoint that benchmark
  measures against (bench/baseline_app.py), whose instructions are those of Flask
  alone;
- `counter pair`: one scan and one grant with an Idempotency-Key, as bench/redeem.py
  seeds the merchant counter (its one-time codes made to live a day: valgrind runs
  code about 50 times slower).

Each figure is the checkout's own code running on the one database and Redis, seeded
once by this checkout (the other checkout must read the same schema). Instructions
are not seconds — a round trip to PostgreSQL or Redis costs the app few instructions
but the servers some work, and gunicorn's HTTP handling is outside — so the targets
stay those of bench/redeem.py and bench/points_read.py; this says where the app's own
CPU goes, repeatably. Needs valgrind (Debian package `valgrind`).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WARM = 30  # requests before counting: caches filled, statements prepared


# -- the child: runs inside valgrind, importing only the checkout's app ------------------

def _call(app, method: str, path: str, token: str | None, body: dict | None = None,
          extra: dict | None = None) -> tuple[str, bytes]:
    raw = json.dumps(body).encode() if body is not None else b""
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "",
               "SERVER_NAME": "bench", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
               "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(raw),
               "wsgi.errors": sys.stderr, "CONTENT_LENGTH": str(len(raw)),
               "REMOTE_ADDR": "127.0.0.1", **(extra or {})}
    if body is not None:
        environ["CONTENT_TYPE"] = "application/json"
    if token:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    status: list[str] = []
    answer = b"".join(app(environ, lambda line, headers, exc_info=None: status.append(line)))
    return status[0], answer


def _expect(status: str, answer: bytes, wanted: str) -> None:
    if not status.startswith(wanted):
        raise SystemExit(f"answered {status}: {answer[:200]!r}")


def _counting(on: bool) -> None:
    subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())],
                   check=True, capture_output=True)


def child(kind: str, count: int, seed: dict) -> None:
    if kind == "bare":
        from bench.baseline_app import app  # the checkout's own, in valgrind
    else:
        from api import create_app

        app = create_app()
    if kind in {"read", "bare"}:
        token = seed["token"] if kind == "read" else None

        def one() -> None:
            _expect(*_call(app, "GET", "/v1/me/points", token), "200")
    else:
        codes = iter(seed["codes"])

        def one() -> None:
            perk_id, code = next(codes).split("|", 1)
            status, answer = _call(app, "POST", "/v1/merchant/verifications", seed["token"],
                                   {"token": code, "perk_id": int(perk_id)})
            _expect(status, answer, "201")
            status, answer = _call(app, "POST", "/v1/merchant/redemptions", seed["token"],
                                   {"verification_id": json.loads(answer)["id"]},
                                   {"HTTP_IDEMPOTENCY_KEY": secrets.token_hex(8)})
            _expect(status, answer, "201")
    for _ in range(WARM):
        one()
    _counting(True)
    for _ in range(count):
        one()
    _counting(False)


# -- the parent: seeds, then runs each checkout's requests under callgrind ---------------

def _seed_read() -> tuple[dict, dict]:
    from bench import points_read
    from bench.common import env, fresh_database

    settings = {**env(), "ACCESS_TOKEN_TTL": "86400"}
    os.environ.update(settings)
    fresh_database()
    return settings, {"token": points_read.resident_token()}


def _seed_counter() -> tuple[dict, dict]:
    from sqlalchemy import create_engine, text

    from bench import redeem

    settings = {**redeem.SERVER_ENV, "ACCESS_TOKEN_TTL": "86400"}
    os.environ.update(settings)
    redeem.prepare_database()
    token, codes = redeem.seed()
    engine = create_engine(redeem.DB_URL.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as connection:  # valgrind is slow: the codes live a day
        connection.execute(text("UPDATE verification_tokens "
                                "SET expires_at = now() + interval '1 day'"))
    engine.dispose()
    return settings, {"token": token, "codes": codes}


def _counted(root: Path, kind: str, count: int, settings: dict, seed: dict) -> int:
    """Instructions per request of `kind` run by the checkout at `root`."""
    with tempfile.TemporaryDirectory() as work:
        seed_file, out = Path(work, "seed.json"), Path(work, "callgrind.out")
        seed_file.write_text(json.dumps(seed))
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no",
             f"--callgrind-out-file={out}", str(root / ".venv/bin/python"), __file__,
             "--child", kind, "--count", str(count), "--seed", str(seed_file)],
            cwd=root, env={**os.environ, **settings, "PYTHONPATH": str(root)},
            capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.stderr.write(done.stdout[-2000:] + done.stderr[-4000:])
            raise SystemExit(f"{kind} failed in {root}")
        totals = re.search(r"^totals: (\d+)", out.read_text(), re.MULTILINE)
    return int(totals.group(1)) // count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other", type=Path, help="another checkout (with its .venv)")
    parser.add_argument("--reads", type=int, default=300)
    parser.add_argument("--pairs", type=int, default=150)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.count, json.loads(args.seed.read_text()))
        return
    if not shutil.which("valgrind"):
        raise SystemExit("needs valgrind: apt-get install valgrind")
    sides = {"this": ROOT}
    if args.other:
        sides["other"] = args.other.resolve()
        if not (sides["other"] / ".venv/bin/python").exists():
            raise SystemExit(f"{sides['other']} has no .venv: run `make install` there")
    for side, root in sides.items():
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, check=False,
                              capture_output=True, text=True).stdout.strip()
        print(f"{side}: {root} ({head})")
    settings, seed = _seed_read()
    figures = {side: _counted(root, "read", args.reads, settings, seed)
               for side, root in sides.items()}
    bare = _counted(ROOT, "bare", args.reads, settings, seed)
    print(f"\n== points read: instructions a request ({args.reads} requests)")
    print(f"  bare Flask endpoint: {bare:,}")
    for side, count in figures.items():
        print(f"  {side}: {count:,} ({count / bare:.2f} × the bare endpoint)")
    if "other" in figures:
        print(f"  this / other: {figures['this'] / figures['other']:.1%}")
    settings, seed = _seed_counter()
    figures = {}
    for n, (side, root) in enumerate(sides.items()):
        share = {**seed, "codes": seed["codes"][n * (args.pairs + WARM):
                                                (n + 1) * (args.pairs + WARM)]}
        figures[side] = _counted(root, "pair", args.pairs, settings, share)
    print(f"\n== counter: instructions a verify + redeem pair ({args.pairs} pairs)")
    for side, count in figures.items():
        print(f"  {side}: {count:,}")
    if "other" in figures:
        print(f"  this / other: {figures['this'] / figures['other']:.1%}")


if __name__ == "__main__":
    main()
