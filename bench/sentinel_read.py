"""Benchmark: the cached points read with Redis behind Sentinel, side by side with the
same Redis named directly.

    .venv/bin/python -m bench.sentinel_read [--reads 2000] [--blocks 6]

Starts a throwaway redis-server and one Sentinel naming it the primary (loopback,
free ports; needs redis-server), makes a resident on a SQLite database of its own,
then calls the WSGI app in-process (no HTTP server, one thread) with cached points
reads, in alternating blocks through an app with `REDIS_URL=redis+sentinel://…` and
one with `redis://…` to the same server, so a drift of the machine's speed hits both
alike. Prints, for each, the CPU per read (this process) and the share of the reads
that Flask answered rather than the pipeline's plain run (api/pipeline.py). Both
should be answered by the plain run at the same cost: a difference is the Sentinel
form of the client not reaching the primary on the thread's own connection
(docs/scaling.md).
"""
from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import free_port, median


class Servers:
    def __init__(self, directory: Path) -> None:
        self.port, self.sentinel_port = free_port(), free_port()
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL)
        conf = directory / "sentinel.conf"
        conf.write_text(f"port {self.sentinel_port}\nbind 127.0.0.1\ndir {directory}\n"
                        f"sentinel monitor credit 127.0.0.1 {self.port} 1\n")
        self.sentinel = subprocess.Popen(["redis-server", str(conf), "--sentinel"],
                                         stdout=subprocess.DEVNULL)
        import redis

        deadline = time.time() + 10
        while True:
            try:
                if redis.Redis(port=self.sentinel_port).execute_command(
                        "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "credit"):
                    break
            except redis.exceptions.ConnectionError:
                pass
            if time.time() > deadline:
                raise SystemExit("redis-server or its Sentinel did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        for proc in (self.sentinel, self.redis):
            proc.terminate()
            proc.wait(timeout=10)


def _resident_headers(app) -> dict[str, str]:
    client = app.test_client()
    token = client.post("/v1/auth/dev/login", json={"openid": "bench-sentinel"}).json[
        "access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    v = client.post("/v1/me/identity/verifications", headers=headers,
                    json={"name": "张三", "id_number": "430104199001011230"})
    client.put("/v1/me/identity", headers=headers, json={"verify_id": v.json["verify_id"]})
    r = client.put("/v1/me/consents/credit_points", headers=headers,
                   json={"granted": True, "policy_version": "2026-01"})
    if r.status_code != 200:
        raise SystemExit(f"consent: {r.status_code} {r.get_data(as_text=True)}")
    return headers


def _read(app, authorization: str) -> str:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/v1/me/points", "QUERY_STRING": "",
               "SERVER_NAME": "bench", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
               "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr,
               "REMOTE_ADDR": "127.0.0.1", "HTTP_AUTHORIZATION": authorization}
    status = []
    b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
    return status[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reads", type=int, default=2000, help="reads per block")
    parser.add_argument("--blocks", type=int, default=6, help="blocks of each, alternating")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        servers = Servers(directory)
        try:
            url = f"sqlite:///{directory / 'credit.db'}"
            os.environ.update(APP_ENV="development", DATABASE_URL=url,
                              SECRET_KEY="bench-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
                              DATA_KEY="bench-data-key", RATELIMIT_ENABLED="false")
            from api import create_app
            from api.cli import upgrade_database

            upgrade_database(url)
            apps = {
                "redis+sentinel://": create_app(
                    {"REDIS_URL": f"redis+sentinel://127.0.0.1:{servers.sentinel_port}/credit/0"}),
                "redis://": create_app({"REDIS_URL": f"redis://127.0.0.1:{servers.port}/0"}),
            }
            authorization = _resident_headers(apps["redis://"])["Authorization"]
            flask_calls: dict[str, list[int]] = {}
            for name, app in apps.items():
                calls = flask_calls[name] = []
                real = app.full_dispatch_request
                app.full_dispatch_request = lambda real=real, calls=calls: (calls.append(1)
                                                                            or real())
                for _ in range(3):  # caches filled, scripts loaded, connections made
                    if _read(app, authorization) != "200 OK":
                        raise SystemExit(f"{name}: the points read failed")
            cpu: dict[str, list[float]] = {name: [] for name in apps}
            through_flask: dict[str, int] = {name: 0 for name in apps}
            for _ in range(args.blocks):
                for name, app in apps.items():
                    flask_calls[name].clear()
                    started = time.process_time()
                    for _ in range(args.reads):
                        _read(app, authorization)
                    cpu[name].append((time.process_time() - started) * 1e6 / args.reads)
                    through_flask[name] += len(flask_calls[name])
            print(f"cached points read in-process, {args.blocks} alternating blocks of "
                  f"{args.reads}")
            for name in apps:
                share = through_flask[name] / (args.blocks * args.reads)
                print(f"  REDIS_URL={name:<19} {median(cpu[name]):7.0f} µs CPU a read "
                      f"(blocks {min(cpu[name]):.0f}–{max(cpu[name]):.0f}), "
                      f"{share:6.1%} through Flask")
        finally:
            servers.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
