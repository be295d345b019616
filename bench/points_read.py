"""Cached points read: GET /v1/me/points with a valid token under wrk (32
connections, loopback), against a bare Flask endpoint returning a constant JSON
body, both served by gunicorn gthread the same way and measured in the same run.

    .venv/bin/python -m bench.points_read [--seconds 10] [--runs 6] [--workers N --threads N]

Needs wrk (Debian package `wrk`: apt-get install wrk).
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess

import requests

from bench.common import (
    PYTHON,
    ROOT,
    THREADS,
    WORKERS,
    Server,
    env,
    fresh_database,
    median,
    report,
)


def wrk(url: str, token: str | None, seconds: int, connections: int = 32) -> tuple[float, float]:
    """(requests per second, p99 latency in ms)."""
    cmd = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", url]
    if token:
        cmd[1:1] = ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    value, unit = float(p99.group(1)), p99.group(2)
    p99_ms = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{errors.group(1)} failed responses from {url}")
    return rate, p99_ms


def resident_token() -> str:
    code = (
        "from api import create_app\nfrom points.office import departments\n"
        "from points.people import accounts, face\nfrom points.recordkeeping import ingestion\n"
        "from points.infra.db import today\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    st = app.state\n"
        "    s = st.db.new_session()\n"
        "    with s.begin():\n"
        "        d, _ = departments.create_department(s, 'bench', 'bench', "
        "['donation.blood'], {'donation.blood'})\n"
        "        u, _ = accounts.user_for_openid(s, 'bench-reader')\n"
        "        face.bind_in_development(s, st.cipher, st.face, u, '张三', '430104199001011230', None, "
        "today())\n"
        "        accounts.set_consent(s, u, 'credit_points', True, '2026-01')\n"
        "        ingestion.ingest(s, st.cipher, st.redis, d, [{'source_ref': 'b1', 'subject': "
        "{'id_number': '430104199001011230', 'name': '张三'}, 'type': 'donation.blood', "
        "'occurred_on': '2026-05-01'}], today())\n"
        "        pair = st.tokens.issue_pair(s, f'user:{u.id}', 'resident')\n"
        "    print(pair.access_token)\n")
    out = subprocess.run([PYTHON, "-c", code], cwd=ROOT, env={**env(), "ACCESS_TOKEN_TTL": "3600"},
                         check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument("--threads", type=int, default=THREADS)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("needs wrk: apt-get install wrk")
    fresh_database()
    token = resident_token()
    app_rates, app_p99, base_rates, base_p99, ratios = [], [], [], [], []
    extra = {"ACCESS_TOKEN_TTL": "3600"}
    # Both servers stay up and the runs alternate between them, so a change in how
    # fast the (shared) machine is between runs touches both sides of each ratio.
    with Server("bench.baseline_app:app", args.workers, args.threads, extra, 32) as base, \
            Server("wsgi:app", args.workers, args.threads, extra, 32) as server:
        warm = requests.get(server.url + "/v1/me/points",
                            headers={"Authorization": f"Bearer {token}"}, timeout=5)
        warm.raise_for_status()
        for run in range(args.runs):
            rate, p99 = wrk(base.url + "/v1/me/points", None, args.seconds)
            base_rates.append(rate)
            base_p99.append(p99)
            rate, p99 = wrk(server.url + "/v1/me/points", token, args.seconds)
            app_rates.append(rate)
            app_p99.append(p99)
            ratios.append(app_rates[-1] / base_rates[-1])
            print(f"  run {run + 1}: app {app_rates[-1]:.0f} req/s (p99 {app_p99[-1]:.1f} ms), "
                  f"baseline {base_rates[-1]:.0f} req/s (p99 {base_p99[-1]:.1f} ms), "
                  f"ratio {ratios[-1]:.0%}")
    report("cached points read (wrk, 32 connections)", {
        "gunicorn": f"gthread, {args.workers} workers x {args.threads} threads",
        "app req/s (median)": f"{median(app_rates):.0f}",
        "app p99 (median)": f"{median(app_p99):.1f} ms",
        "baseline req/s (median)": f"{median(base_rates):.0f}",
        "baseline p99 (median)": f"{median(base_p99):.1f} ms",
        "ratio app / baseline (median of the runs' ratios)": f"{median(ratios):.0%}",
    })


if __name__ == "__main__":
    main()
