"""Soak benchmark: mixed traffic for a while against gunicorn + an RQ worker on
PostgreSQL + Redis, then the checks that must still hold.

    .venv/bin/python -m bench.soak [--minutes 10] [--clients 16]

It uses a database and Redis db of its own (`credit_soak`, Redis db 8; override with
SOAK_DATABASE_URL / SOAK_REDIS_URL), recreated on every run, so it never clashes with
the other benches or the tests. WeChat is a stub on 127.0.0.1: every request of the
run stays on the loopback.

Set-up, through the API: a credit-office admin (`create-admin`), three departments,
residents signed in (dev login) with bound identities and both consents, records
giving them levels from AAA to B (restricted), a merchant applied for and approved
by the admin, and perks: one with a small quota that runs out during the run, one
open to level A, one for AA and above.

Traffic, from --clients threads (one `requests` session each) until the deadline:
points reads, records reads, record batches (new records, resends, corrections, a few
bad records; some with an Idempotency-Key, some replayed), repairs applied for and
decided by the department, objections raised and decided (decisions queue WeChat
notifications that the RQ worker sends to the stub), one-time codes, merchant
verifications and redemptions with an Idempotency-Key (some replays, some second
keys, some reversals), departments' credit checks with feedback, perk lists.

Checks (exit 1 if one fails): no 5xx and no client-side error; every answer one the
contract allows for that call; idempotent replays identical; RSS growth of each
gunicorn worker under 10 % from the end of the warm-up to the end; no worker
replaced; no perk granted beyond its quota (SQL), `used` equal to the grants, no
resident beyond the per-resident limit, every grant the clients saw stored exactly
once; every queued notification sent; `points verify` clean.
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.server
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from zoneinfo import ZoneInfo

# A database and Redis db of the soak's own, fixed before bench.common reads them.
os.environ["BENCH_DATABASE_URL"] = os.environ.get(
    "SOAK_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/credit_soak")
os.environ["BENCH_REDIS_URL"] = os.environ.get("SOAK_REDIS_URL", "redis://127.0.0.1:6379/8")

import requests

from bench.common import (
    BENCH_DB,
    BENCH_REDIS,
    PYTHON,
    ROOT,
    Server,
    env,
    fresh_database,
    report,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
TIMEOUT = 30
ADMIN = ("soak-admin", "soak-admin-password-2026")
POLICY = "2026-01"
MERCHANT_USCC = "91430104MA4L0YL7XL"
SURNAMES = "张李王刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
PURPOSES = ["administrative_license", "administrative_penalty", "inspection",
            "financial_support", "government_procurement", "bidding", "land_transfer",
            "research_funding", "civil_service_hiring", "commendation"]
FEEDBACK = ["fast_track", "normal", "extra_review", "denied"]
DEPARTMENTS = {
    "civil": ("雨花区民政局", ["volunteer.service", "donation.blood", "charity.donation",
                          "honour.district"]),
    "market": ("雨花区市场监督管理局", ["admin.penalty.minor", "admin.penalty.general",
                                  "honour.district"]),
    "tax": ("雨花区税务局", ["tax.major_violation", "admin.penalty.minor"]),
}
# How often each department sends a batch, and each type within its batches.
DEPT_WEIGHTS = {"civil": 3, "market": 2, "tax": 1}
TYPE_WEIGHTS = {"volunteer.service": 3, "donation.blood": 2, "charity.donation": 2,
                "honour.district": 2, "admin.penalty.minor": 2, "admin.penalty.general": 1,
                "tax.major_violation": 0.1}
DATE_FIELD = {"volunteer.service": "occurred_on", "donation.blood": "occurred_on",
              "charity.donation": "occurred_on", "honour.district": "occurred_on",
              "admin.penalty.minor": "decided_on", "admin.penalty.general": "decided_on",
              "tax.major_violation": "decided_on"}
NEGATIVE = {"admin.penalty.minor", "admin.penalty.general", "tax.major_violation"}

# What the contract allows each call to answer: a status, or (status, error_code).
ALLOWED: dict[str, set] = {
    "points": {200},
    "records": {200},
    "perks": {200},
    "refresh": {200},
    "batch": {200},
    "batch_replay": {200},
    "batch_key_reused": {(422, "IDEMPOTENCY_KEY_REUSED")},
    "repair_apply": {201, (409, "REPAIR_PENDING"), (409, "ALREADY_REPAIRED"),
                     (409, "RECORD_REVOKED"), (409, "NOT_REPAIRABLE"),
                     (409, "NOT_YET_REPAIRABLE")},
    "repair_list": {200},
    "repair_decision": {200, (409, "REPAIR_CLOSED"), (409, "ALREADY_REPAIRED"),
                        (409, "RECORD_REVOKED")},
    "objection": {201, (409, "OBJECTION_PENDING"), (409, "RECORD_REVOKED")},
    "objection_list": {200},
    "objection_decision": {200, (409, "OBJECTION_CLOSED")},
    "code": {201},
    "code_no_consent": {(403, "CONSENT_REQUIRED")},
    "verify": {201},
    "verify_again": {(409, "TOKEN_USED")},
    "redeem": {201, (403, "NOT_ELIGIBLE"), (409, "QUOTA_EXHAUSTED"), (409, "LIMIT_REACHED")},
    "redeem_replay": {201, (403, "NOT_ELIGIBLE"), (409, "QUOTA_EXHAUSTED"),
                      (409, "LIMIT_REACHED")},
    "redeem_other_key": {(409, "ALREADY_REDEEMED")},
    "reverse": {200},
    "credit_check": {201},
    "check_feedback": {200, (409, "FAST_TRACK_EXCLUDED")},
    "check_feedback_again": {(409, "FEEDBACK_ALREADY_GIVEN")},
}


def shanghai_today() -> dt.date:
    return dt.datetime.now(SHANGHAI).date()


def id_number(region: str, i: int) -> str:
    """A valid resident ID number, unique per (region, i), born 1960–1999."""
    from stdnum.cn import ric

    born = dt.date(1960, 1, 1) + dt.timedelta(days=(i * 7) % 14000)
    body = f"{region}{born:%Y%m%d}{100 + i // 2000:03d}"
    return body + ric.calc_check_digit(body + "0")


def person_name(i: int) -> str:
    return (SURNAMES[i % len(SURNAMES)] + GIVEN[(i // len(SURNAMES)) % len(GIVEN)]
            + GIVEN[(i * 7) % len(GIVEN)])


# ------------------------------------------------------------------ figures


class Reservoir:
    """At most `size` latency samples per kind (algorithm R), so the client's memory
    stays bounded however long the run."""

    def __init__(self, size: int = 20_000) -> None:
        self.size, self.seen, self.items = size, 0, []
        self.rng = random.Random(7)

    def add(self, value: float) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(value)
        else:
            j = self.rng.randrange(self.seen)
            if j < self.size:
                self.items[j] = value

    def quantile(self, q: float) -> float:
        ordered = sorted(self.items)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else 0.0


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, Reservoir] = defaultdict(Reservoir)
        self.count: Counter = Counter()
        self.answers: dict[str, Counter] = defaultdict(Counter)
        self.server_errors: Counter = Counter()
        self.n5xx = 0
        self.unexpected: Counter = Counter()
        self.unexpected_samples: list[str] = []
        self.client_errors: Counter = Counter()
        self.mismatches: list[str] = []
        self.events: Counter = Counter()
        self.grant_ids: set[int] = set()

    def note(self, kind: str, status: int, code: str | None, took: float, body: str) -> None:
        allowed = ALLOWED[kind]
        ok = status in allowed or (status, code) in allowed
        with self.lock:
            self.count[kind] += 1
            self.latency[kind].add(took)
            self.answers[kind][f"{status}" + (f" {code}" if code and status >= 300 else "")] += 1
            if status >= 500:
                self.n5xx += 1
                if len(self.server_errors) < 50:
                    self.server_errors[f"{kind}: {status} {body[:300].strip()}"] += 1
            elif not ok:
                self.unexpected[f"{kind} {status} {code}"] += 1
                if len(self.unexpected_samples) < 20:
                    self.unexpected_samples.append(f"{kind}: {status} {body[:300].strip()}")

    def event(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.events[name] += n

    def mismatch(self, text: str) -> None:
        with self.lock:
            if len(self.mismatches) < 50:
                self.mismatches.append(text)
            self.events["mismatch"] += 1


class Http:
    """One thread's session: every call timed and checked against ALLOWED."""

    def __init__(self, base: str, stats: Stats) -> None:
        self.base, self.stats = base, stats
        self.session = requests.Session()

    def call(self, kind: str, method: str, path: str, *, headers: dict | None = None,
             json_body=None, params: dict | None = None) -> requests.Response | None:
        began = time.perf_counter()
        try:
            response = self.session.request(method, self.base + path, headers=headers,
                                            json=json_body, params=params, timeout=TIMEOUT)
        except requests.RequestException as exc:
            with self.stats.lock:
                self.stats.client_errors[f"{kind}: {type(exc).__name__}"] += 1
            return None
        took = time.perf_counter() - began
        code = None
        if response.status_code >= 400:
            try:
                code = response.json().get("error_code")
            except ValueError:
                code = None
        self.stats.note(kind, response.status_code, code, took, response.text)
        return response


# ------------------------------------------------------------------ accounts


class Account:
    """A bearer token pair, refreshed (once, under a lock) before the access token ends."""

    def __init__(self, pair: dict) -> None:
        self.lock = threading.Lock()
        self._set(pair)

    def _set(self, pair: dict) -> None:
        self.access, self.refresh_token = pair["access_token"], pair["refresh_token"]
        self.renew_at = time.monotonic() + max(30, pair.get("expires_in", 900) - 120)

    def headers(self, http: Http) -> dict[str, str]:
        if time.monotonic() >= self.renew_at:
            with self.lock:
                if time.monotonic() >= self.renew_at:
                    r = http.call("refresh", "POST", "/v1/auth/refresh",
                                  json_body={"refresh_token": self.refresh_token})
                    if r is not None and r.status_code == 200:
                        self._set(r.json())
        return {"Authorization": f"Bearer {self.access}"}


class Resident:
    def __init__(self, index: int, openid: str, name: str, number: str, group: str) -> None:
        self.index, self.openid, self.name, self.id_number = index, openid, name, number
        self.group = group
        self.account: Account | None = None
        self.merchant_share = True


def sign_in(http: Http, openid: str) -> dict:
    r = http.session.post(http.base + "/v1/auth/dev/login", json={"openid": openid},
                          timeout=TIMEOUT)
    r.raise_for_status()
    return r.json()


def must(r: requests.Response, status: int) -> dict:
    if r.status_code != status:
        raise RuntimeError(f"set-up: {r.request.method} {r.url} answered {r.status_code} "
                           f"{r.text[:300]}")
    return r.json() if r.content else {}


# ------------------------------------------------------------------ the WeChat stub


class WeChatStub:
    """stable_token and subscribe/send on 127.0.0.1, always succeeding."""

    def __init__(self) -> None:
        counts = self.counts = Counter()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                path = self.path.split("?", 1)[0]
                if path == "/cgi-bin/stable_token":
                    body = {"access_token": "soak-stub-token", "expires_in": 7200}
                elif path == "/cgi-bin/message/subscribe/send":
                    body = {"errcode": 0, "errmsg": "ok"}
                else:
                    body = {"errcode": 40001, "errmsg": "unknown path"}
                counts[path] += 1
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ------------------------------------------------------------------ memory


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid …; comm may hold spaces, so split after the last ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def sample(master: int) -> dict[int, int]:
    return {pid: kb for pid in children(master) if (kb := rss_kb(pid)) is not None}


# ------------------------------------------------------------------ the soak


class Soak:
    def __init__(self, args: argparse.Namespace, base: str) -> None:
        self.args, self.base = args, base
        self.stats = Stats()
        self.today = shanghai_today()
        self.residents: list[Resident] = []
        self.unbound: list[tuple[str, str]] = [(id_number("430111", 50_000 + i),
                                                person_name(9_000 + i)) for i in range(200)]
        self.dept_keys: dict[str, str] = {}
        self.staff: Account | None = None
        self.perks: dict[str, int] = {}
        self.quota = args.quota
        # Records known to be stored, per department: source_ref -> the record as last sent.
        self.sent: dict[str, dict[str, dict]] = {code: {} for code in DEPARTMENTS}
        self.sent_refs: dict[str, list[str]] = {code: [] for code in DEPARTMENTS}
        self.sent_lock = threading.Lock()
        self.recent_grants: list[int] = []
        self.checks_pending: list[tuple[str, int]] = []
        self.deadline = 0.0

    # -------------------------------------------------------------- set-up

    def day(self, days_ago: int) -> str:
        return (self.today - dt.timedelta(days=days_ago)).isoformat()

    def setup(self) -> None:
        http = Http(self.base, self.stats)
        admin = must(http.session.post(self.base + "/v1/auth/admin/login", json={
            "username": ADMIN[0], "password": ADMIN[1]}, timeout=TIMEOUT), 200)
        admin_h = {"Authorization": f"Bearer {admin['access_token']}"}
        for code, (name, types) in DEPARTMENTS.items():
            body = must(http.session.post(self.base + "/v1/admin/departments", headers=admin_h,
                                          json={"code": code, "name": name, "record_types": types},
                                          timeout=TIMEOUT), 201)
            self.dept_keys[code] = body["api_key"]

        groups = ["good"] * 4 + ["repairable"] * 3 + ["plain"] * 2 + ["restricted"]
        for i in range(self.args.residents):
            self.residents.append(Resident(i, f"soak-{i}", person_name(i),
                                           id_number("430104", i), groups[i % len(groups)]))
        self.negative_pool = [r for r in self.residents if r.group != "good"]
        # One in twenty never grants merchant_share: its codes are refused.
        for r in self.residents[::20]:
            r.merchant_share = False

        def enrol(resident: Resident) -> None:
            h = Http(self.base, self.stats)
            resident.account = Account(sign_in(h, resident.openid))
            auth = {"Authorization": f"Bearer {resident.account.access}"}
            must(h.session.put(self.base + "/v1/me/identity", headers=auth, json={
                "name": resident.name, "id_number": resident.id_number}, timeout=TIMEOUT), 200)
            for scope in ("credit_points", "merchant_share"):
                if scope == "merchant_share" and not resident.merchant_share:
                    continue
                must(h.session.put(self.base + f"/v1/me/consents/{scope}", headers=auth, json={
                    "granted": True, "policy_version": POLICY}, timeout=TIMEOUT), 200)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(enrol, self.residents))

        # Records that give the residents their levels.
        by_dept: dict[str, list[dict]] = defaultdict(list)
        for r in self.residents:
            subject = {"id_number": r.id_number, "name": r.name}

            def add(dept: str, type_: str, days_ago: int, details: dict | None = None,
                    r=r, subject=subject) -> None:
                rec = {"source_ref": f"setup-{r.index}-{len(by_dept[dept])}",
                       "subject": subject, "type": type_, DATE_FIELD[type_]: self.day(days_ago)}
                if details:
                    rec["details"] = details
                by_dept[dept].append(rec)

            if r.group == "good":  # 1000 + 10 + 10..30 + 10: AA or AAA
                add("civil", "donation.blood", 40 + r.index % 100)
                add("civil", "volunteer.service", 20 + r.index % 90,
                    {"hours": 100 + (r.index * 13) % 250})
                add("civil", "honour.district", 60 + r.index % 200)
            elif r.group == "repairable":  # general (repairable now) and minor: A
                add("market", "admin.penalty.general", 100 + r.index % 60)
                add("market", "admin.penalty.minor", 2 + r.index % 20)
            elif r.group == "restricted":  # serious, not repairable for a year: B, restricted
                add("tax", "tax.major_violation", 60 + r.index % 100)
            elif r.index % 2:
                add("civil", "charity.donation", 10 + r.index % 100)
        for dept, recs in by_dept.items():
            for start in range(0, len(recs), 500):
                body = must(http.session.post(
                    self.base + "/v1/dept/records", headers={"X-API-Key": self.dept_keys[dept]},
                    json={"records": recs[start:start + 500]}, timeout=120), 200)
                if body["rejected"]:
                    raise RuntimeError(f"set-up records rejected: {body['rejected'][:2]}")
            for rec in recs:
                self._remember(dept, rec)

        # A merchant applied for by a signed-in user and approved by the credit office.
        owner = Account(sign_in(http, "soak-merchant-owner"))
        merchant = must(http.session.post(self.base + "/v1/merchants", headers=owner.headers(http),
                                          json={"name": "压测景区", "uscc": MERCHANT_USCC,
                                                "sector": "tourism"}, timeout=TIMEOUT), 201)
        must(http.session.post(self.base + f"/v1/admin/merchants/{merchant['id']}/approve",
                               headers=admin_h, timeout=TIMEOUT), 200)
        self.staff = owner
        until = (self.today + dt.timedelta(days=60)).isoformat()
        for key, title, level, quota, limit in [
                ("limited", "限量门票", "A", self.quota, 2),
                ("open", "门票八折", "A", 10**7, 1000),
                ("premium", "免押金入住", "AA", 10**7, 1000)]:
            body = must(http.session.post(self.base + "/v1/merchant/perks",
                                          headers=owner.headers(http), json={
                "title": title, "min_level": level,
                "benefit": {"kind": "discount", "value": "8折"}, "total_quota": quota,
                "per_resident_limit": limit, "valid_from": self.today.isoformat(),
                "valid_until": until}, timeout=TIMEOUT), 201)
            self.perks[key] = body["id"]
        # Levels as they stand before the traffic.
        levels = Counter()
        for r in self.residents[:: max(1, len(self.residents) // 100)]:
            body = must(http.session.get(self.base + "/v1/me/points",
                                         headers=r.account.headers(http), timeout=TIMEOUT), 200)
            levels[body["level"]] += 1
        self.levels_before = dict(sorted(levels.items()))

    def _remember(self, dept: str, rec: dict) -> None:
        with self.sent_lock:
            if rec["source_ref"] not in self.sent[dept]:
                self.sent_refs[dept].append(rec["source_ref"])
            self.sent[dept][rec["source_ref"]] = rec

    # -------------------------------------------------------------- flows

    def live(self) -> bool:
        return time.monotonic() < self.deadline

    def flow_points(self, http: Http, rng: random.Random) -> None:
        r = rng.choice(self.residents)
        http.call("points", "GET", "/v1/me/points", headers=r.account.headers(http))

    def flow_perks(self, http: Http, rng: random.Random) -> None:
        r = rng.choice(self.residents)
        http.call("perks", "GET", "/v1/perks", headers=r.account.headers(http))

    def _new_record(self, rng: random.Random, dept: str, ref: str) -> dict:
        types = DEPARTMENTS[dept][1]
        type_ = rng.choices(types, weights=[TYPE_WEIGHTS[t] for t in types])[0]
        if rng.random() < 0.1:
            number, name = rng.choice(self.unbound)
        else:
            # Negative records go to the residents who are not in the "good" group, so
            # that group keeps its AA/AAA levels for the perks all run long.
            person = rng.choice(self.negative_pool if type_ in NEGATIVE else self.residents)
            number, name = person.id_number, person.name
        days_ago = rng.randint(1, 40) if type_ in NEGATIVE else rng.randint(1, 300)
        if type_ == "admin.penalty.general" and rng.random() < 0.5:
            days_ago = rng.randint(95, 200)  # repairable already
        rec = {"source_ref": ref, "subject": {"id_number": number, "name": name}, "type": type_,
               DATE_FIELD[type_]: self.day(days_ago)}
        if type_ == "volunteer.service":
            rec["details"] = {"hours": rng.randint(5, 80)}
        return rec

    def _corrected(self, rng: random.Random, rec: dict) -> dict:
        rec = json.loads(json.dumps(rec))
        if rec["type"] == "volunteer.service":
            rec["details"] = {"hours": rec["details"]["hours"] % 80 + 1}
        else:
            field = DATE_FIELD[rec["type"]]
            day = dt.date.fromisoformat(rec[field])
            shifted = day - dt.timedelta(days=1) if rng.random() < 0.5 or day >= self.today \
                - dt.timedelta(days=2) else day + dt.timedelta(days=1)
            rec[field] = shifted.isoformat()
        return rec

    def flow_batch(self, http: Http, rng: random.Random, tag: str, seq: list[int]) -> None:
        dept = rng.choices(list(DEPT_WEIGHTS), weights=list(DEPT_WEIGHTS.values()))[0]
        with self.sent_lock:
            refs = self.sent_refs[dept]
            olds = [refs[rng.randrange(len(refs))] for _ in range(8)] if refs else []
            olds = [self.sent[dept][ref] for ref in dict.fromkeys(olds)]
        records, intent = [], {}
        for _ in range(rng.randint(3, 25)):
            seq[0] += 1
            records.append(self._new_record(rng, dept, f"{tag}-{seq[0]}"))
            intent[records[-1]["source_ref"]] = "new"
        for old in olds[:rng.randint(0, 4)]:
            if rng.random() < 0.6:
                records.append(old)
                intent[old["source_ref"]] = "resend"
            else:
                records.append(self._corrected(rng, old))
                intent[old["source_ref"]] = "correct"
        bad = 0
        if rng.random() < 0.3:  # a record with a problem: a date in the future
            seq[0] += 1
            rec = self._new_record(rng, dept, f"{tag}-{seq[0]}")
            rec[DATE_FIELD[rec["type"]]] = (self.today + dt.timedelta(days=5)).isoformat()
            records.append(rec)
            bad = 1
        rng.shuffle(records)
        headers = {"X-API-Key": self.dept_keys[dept]}
        keyed = rng.random() < 0.3
        if keyed:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        r = http.call("batch", "POST", "/v1/dept/records", headers=headers,
                      json_body={"records": records})
        if r is None or r.status_code != 200:
            return
        body = r.json()
        if len(body["rejected"]) != bad:
            self.stats.mismatch(f"batch: {len(body['rejected'])} rejected, expected {bad}: "
                                f"{body['rejected'][:2]}")
        results = Counter()
        by_ref = {rec["source_ref"]: rec for rec in records}
        for item in body["accepted"]:
            want = intent.get(item["source_ref"])
            got = item["result"]
            results[got] += 1
            if (want == "new" and got != "created") or (want in {"resend", "correct"}
                                                         and got == "created"):
                self.stats.mismatch(f"batch: {item['source_ref']} ({want}) answered {got}")
            self._remember(dept, by_ref[item["source_ref"]])
        self.stats.event("records sent", len(records))
        for key, n in results.items():
            self.stats.event(f"records {key}", n)
        self.stats.event("records rejected", len(body["rejected"]))
        if keyed and rng.random() < 0.3 and self.live():
            again = http.call("batch_replay", "POST", "/v1/dept/records", headers=headers,
                              json_body={"records": records})
            if again is not None and again.status_code == 200 and (
                    again.json() != body or again.headers.get("Idempotent-Replayed") != "true"):
                self.stats.mismatch("batch replay differs from the first answer")
            if rng.random() < 0.2 and self.live():  # the same key with another body
                http.call("batch_key_reused", "POST", "/v1/dept/records", headers=headers,
                          json_body={"records": records[:-1] or records + records})

    def _my_records(self, http: Http, resident: Resident) -> list[dict]:
        r = http.call("records", "GET", "/v1/me/records", headers=resident.account.headers(http),
                      params={"page_size": 100})
        return r.json() if r is not None and r.status_code == 200 else []

    def flow_repair(self, http: Http, rng: random.Random) -> None:
        pool = [r for r in self.residents if r.group == "repairable"]
        resident = rng.choice(pool if rng.random() < 0.7 else self.residents)
        recs = self._my_records(http, resident)
        today = self.today.isoformat()
        candidates = [x for x in recs if x.get("kind") == "negative" and x["status"] == "active"
                      and x.get("repairable")]
        ready = [x for x in candidates if (x.get("repairable_from") or "") <= today]
        if not candidates or not self.live():
            self.stats.event("repair: nothing to repair")
            return
        record = rng.choice(ready if ready and rng.random() < 0.9 else candidates)
        http.call("repair_apply", "POST", "/v1/me/repairs",
                  headers={**resident.account.headers(http),
                           "Idempotency-Key": uuid.uuid4().hex},
                  json_body={"record_id": record["id"], "statement": "已按要求整改完毕",
                             "commitment": "今后严格遵守相关规定",
                             "evidence": [{"kind": "receipt", "ref": f"soak-{record['id']}"}]})

    def flow_objection(self, http: Http, rng: random.Random) -> None:
        resident = rng.choice(self.residents)
        recs = [x for x in self._my_records(http, resident)
                if x["status"] == "active" and not x["disputed"]]
        if not recs or not self.live():
            self.stats.event("objection: nothing to dispute")
            return
        record = rng.choice(recs)
        http.call("objection", "POST", "/v1/me/objections",
                  headers=resident.account.headers(http),
                  json_body={"record_id": record["id"], "reason": "记录与事实不符"})

    def flow_decisions(self, http: Http, rng: random.Random) -> None:
        dept = rng.choice(list(DEPARTMENTS))
        key = {"X-API-Key": self.dept_keys[dept]}
        if rng.random() < 0.6:
            r = http.call("repair_list", "GET", "/v1/dept/repairs", headers=key,
                          params={"status": "submitted", "page_size": 20})
            for item in (r.json() if r is not None and r.status_code == 200 else [])[:3]:
                if not self.live():
                    return
                approve = rng.random() < 0.75
                headers = {**key, "Idempotency-Key": uuid.uuid4().hex} if rng.random() < 0.3 \
                    else key
                http.call("repair_decision", "POST", f"/v1/dept/repairs/{item['id']}/decision",
                          headers=headers, json_body={
                              "approve": approve, "note": None if approve else "材料不全"})
        else:
            r = http.call("objection_list", "GET", "/v1/dept/objections", headers=key,
                          params={"status": "pending", "page_size": 20})
            for item in (r.json() if r is not None and r.status_code == 200 else [])[:3]:
                if not self.live():
                    return
                upheld = rng.random() < 0.3
                http.call("objection_decision", "POST",
                          f"/v1/dept/objections/{item['id']}/decision", headers=key,
                          json_body={"upheld": upheld, "note": None if upheld else "经核实无误"})

    def flow_redeem(self, http: Http, rng: random.Random) -> None:
        resident = rng.choice(self.residents)
        r = http.call("code" if resident.merchant_share else "code_no_consent", "POST",
                      "/v1/me/verification-tokens", headers=resident.account.headers(http))
        if r is None or r.status_code != 201:
            return
        token = r.json()["token"]
        perk = rng.choices(["limited", "open", "premium"], weights=[3, 4, 3])[0]
        staff = self.staff.headers(http)
        if not self.live():
            return
        v = http.call("verify", "POST", "/v1/merchant/verifications", headers=staff,
                      json_body={"token": token, "perk_id": self.perks[perk]})
        if v is None or v.status_code != 201:
            return
        verification = v.json()
        self.stats.event(f"verified {perk} eligible={verification['eligible']}")
        if rng.random() < 0.05 and self.live():
            http.call("verify_again", "POST", "/v1/merchant/verifications", headers=staff,
                      json_body={"token": token, "perk_id": self.perks[perk]})
        if not verification["eligible"] and (rng.random() < 0.7 or verification["reasons"] == [
                "quota_exhausted"] and rng.random() < 0.5):
            return
        if not self.live():
            return
        headers = {**staff, "Idempotency-Key": uuid.uuid4().hex}
        body = {"verification_id": verification["id"]}
        first = http.call("redeem", "POST", "/v1/merchant/redemptions", headers=headers,
                          json_body=body)
        if first is None:
            return
        granted = first.status_code == 201
        if granted:
            grant = first.json()
            with self.stats.lock:
                self.stats.grant_ids.add(grant["id"])
            self.stats.event(f"granted {perk}")
            if set(verification["reasons"]) - {"quota_exhausted"}:
                self.stats.mismatch(f"granted an ineligible verification: {verification}")
        elif first.status_code == 403 and verification["eligible"]:
            self.stats.event("refused after an eligible verification")
        if rng.random() < 0.15 and self.live():
            again = http.call("redeem_replay", "POST", "/v1/merchant/redemptions",
                              headers=headers, json_body=body)
            if again is not None and granted and (
                    again.status_code != 201 or again.json() != first.json()
                    or again.headers.get("Idempotent-Replayed") != "true"):
                self.stats.mismatch(f"redemption replay: {again.status_code} {again.text[:200]}")
            elif again is not None and not granted and again.status_code == 201:
                # The first try was refused (nothing stored with the key), so the retry
                # ran again and may win a unit a reversal gave back.
                with self.stats.lock:
                    self.stats.grant_ids.add(again.json()["id"])
                self.stats.event("granted on a retry after a refusal")
        if granted and rng.random() < 0.05 and self.live():
            http.call("redeem_other_key", "POST", "/v1/merchant/redemptions",
                      headers={**staff, "Idempotency-Key": uuid.uuid4().hex}, json_body=body)
        if granted and rng.random() < 0.04 and self.live():
            http.call("reverse", "POST", f"/v1/merchant/redemptions/{grant['id']}/reverse",
                      headers=staff, json_body={"reason": "顾客取消"})
            self.stats.event(f"reversed {perk}")

    def flow_check(self, http: Http, rng: random.Random) -> None:
        dept = rng.choice(list(DEPARTMENTS))
        roll = rng.random()
        if roll < 0.8:
            person = rng.choice(self.residents)
            subject = {"id_number": person.id_number, "name": person.name}
        elif roll < 0.9:
            number, name = rng.choice(self.unbound)
            subject = {"id_number": number, "name": name}
        else:  # nobody ever reported on this person
            subject = {"id_number": id_number("430121", rng.randrange(100_000)), "name": "王五"}
        key = {"X-API-Key": self.dept_keys[dept]}
        r = http.call("credit_check", "POST", "/v1/dept/credit-checks", headers=key, json_body={
            "subject": subject, "purpose": rng.choice(PURPOSES),
            "matter_ref": f"soak-{uuid.uuid4().hex[:12]}"})
        if r is None or r.status_code != 201 or rng.random() > 0.3 or not self.live():
            return
        check_id = r.json()["id"]
        given = http.call("check_feedback", "POST", f"/v1/dept/credit-checks/{check_id}/feedback",
                          headers=key, json_body={"action": rng.choice(FEEDBACK),
                                                  "note": "已按结果办理"})
        # Once feedback is given, a second one is refused (fast_track for a restricted
        # person is refused and leaves the check without feedback).
        if given is not None and given.status_code == 200 and rng.random() < 0.1 \
                and self.live():
            http.call("check_feedback_again", "POST",
                      f"/v1/dept/credit-checks/{check_id}/feedback", headers=key,
                      json_body={"action": "normal", "note": None})

    def client(self, number: int) -> None:
        rng = random.Random(1000 + number)
        http = Http(self.base, self.stats)
        seq = [0]
        tag = f"soak-c{number}"
        flows = [
            (lambda: self.flow_points(http, rng), 30),
            (lambda: self.flow_perks(http, rng), 4),
            (lambda: self.flow_batch(http, rng, tag, seq), 8),
            (lambda: self.flow_repair(http, rng), 8),
            (lambda: self.flow_objection(http, rng), 4),
            (lambda: self.flow_decisions(http, rng), 8),
            (lambda: self.flow_redeem(http, rng), 24),
            (lambda: self.flow_check(http, rng), 10),
        ]
        funcs, weights = zip(*flows, strict=True)
        while self.live():
            try:
                rng.choices(funcs, weights=weights)[0]()
            except Exception as exc:  # noqa: BLE001 - a bench bug: count it, keep going
                with self.stats.lock:
                    self.stats.client_errors[f"bench {type(exc).__name__}: {exc}"[:160]] += 1
        http.session.close()


# ------------------------------------------------------------------ checks after the run


def sql(query: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(BENCH_DB) as conn, conn.cursor() as cur:
        cur.execute(query)
        return cur.fetchall()


def code_stamp() -> str:
    """Names, sizes and times of the application's source files: the run's figures
    belong to one version of the code only if this is the same at both ends."""
    import hashlib

    digest = hashlib.sha256()
    for folder in ("api", "points", "incentives"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            stat = path.stat()
            digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


CANARY = "soak:canary"


def wait_outbox(seconds: float) -> dict[str, int]:
    end = time.monotonic() + seconds
    while True:
        counts = dict(sql("SELECT status, count(*) FROM outbox_messages GROUP BY status"))
        if not counts.get("pending") or time.monotonic() > end:
            return counts
        time.sleep(1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--residents", type=int, default=400)
    parser.add_argument("--quota", type=int, default=None,
                        help="total quota of the limited perk (default: 30 per minute of run)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds of traffic before the first memory sample "
                             "(default: 10%% of the run, 10 to 60 s)")
    args = parser.parse_args()
    args.quota = args.quota or max(20, int(30 * args.minutes))
    duration = args.minutes * 60
    warmup = args.warmup if args.warmup is not None else min(60.0, max(10.0, duration * 0.1))
    failures: list[str] = []

    print(f"soak: {args.minutes:g} min, {args.clients} clients, {args.residents} residents, "
          f"database {BENCH_DB.rsplit('@', 1)[-1]}, redis {BENCH_REDIS.rsplit('@', 1)[-1]}",
          flush=True)
    fresh_database()
    import redis

    cache = redis.Redis.from_url(BENCH_REDIS)
    # Gone at the end: another process flushed the soak's Redis db during the run.
    cache.set(CANARY, "1")
    stamp = code_stamp()
    subprocess.run([PYTHON, "-m", "flask", "--app", "wsgi", "create-admin", ADMIN[0],
                    "--password", ADMIN[1]], cwd=ROOT, env=env(), check=True,
                   capture_output=True)
    stub = WeChatStub()
    extra = {"WECHAT_API_BASE": stub.url}
    logdir = Path(tempfile.mkdtemp(prefix="soak-"))
    server_log = logdir / "gunicorn.log"
    worker_log = logdir / "rq-worker.log"
    # gunicorn's output (with any traceback) goes to a file, not over the figures.
    saved = os.dup(2)
    with open(server_log, "wb") as log:
        os.dup2(log.fileno(), 2)
        try:
            server = Server(extra_env=extra)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    with open(worker_log, "wb") as log:
        worker = subprocess.Popen([PYTHON, "-m", "flask", "--app", "wsgi", "worker"],
                                  cwd=ROOT, env={**env(), **extra}, stdout=log,
                                  stderr=subprocess.STDOUT)
    memory: list[tuple[float, dict[int, int]]] = []
    soak = Soak(args, server.url)
    try:
        began = time.monotonic()
        soak.setup()
        print(f"set-up: {time.monotonic() - began:.1f} s through the API "
              f"(levels of a sample before the traffic: {soak.levels_before})", flush=True)
        workers_at_start = children(server.proc.pid)

        start = time.monotonic()
        soak.deadline = start + duration
        threads = [threading.Thread(target=soak.client, args=(n,), daemon=True)
                   for n in range(args.clients)]
        for t in threads:
            t.start()
        next_sample = start + warmup
        while soak.live():
            now = time.monotonic()
            if now >= next_sample:
                memory.append((now - start, sample(server.proc.pid)))
                total = sum(soak.stats.count.values())
                print(f"  t={now - start:5.0f}s requests={total} 5xx={soak.stats.n5xx} "
                      f"rss MB={[round(kb / 1024, 1) for kb in memory[-1][1].values()]}",
                      flush=True)
                next_sample = now + max(10.0, min(60.0, duration / 10))
            time.sleep(min(1.0, max(0.05, soak.deadline - time.monotonic())))
        for t in threads:
            t.join(TIMEOUT + 5)
        elapsed = time.monotonic() - start
        memory.append((elapsed, sample(server.proc.pid)))
        workers_at_end = children(server.proc.pid)
        stuck = [t for t in threads if t.is_alive()]
        if stuck:
            failures.append(f"{len(stuck)} client threads still running after the deadline")
        outbox = wait_outbox(60)
        worker_rss = rss_kb(worker.pid)
        canary = cache.get(CANARY)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        server.stop()
        stub.stop()

    stats = soak.stats
    # ---------------------------------------------------------------- figures
    total = sum(stats.count.values())
    print(f"\n== soak traffic: {elapsed:.0f} s, {args.clients} clients, {total} requests, "
          f"{total / elapsed:.1f} req/s (cores: {os.cpu_count()})")
    print(f"  {'kind':<22}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}   answers")
    for kind in sorted(stats.count, key=lambda k: -stats.count[k]):
        res = stats.latency[kind]
        answers = ", ".join(f"{k}: {v}" for k, v in stats.answers[kind].most_common())
        print(f"  {kind:<22}{stats.count[kind]:>9}{stats.count[kind] / elapsed:>8.1f}"
              f"{res.quantile(0.5) * 1000:>9.1f}{res.quantile(0.99) * 1000:>9.1f}   {answers}")
    report("soak events", dict(sorted(stats.events.items())))

    # ---------------------------------------------------------------- checks
    if canary is None:
        failures.append(f"the soak's Redis db ({BENCH_REDIS}) was flushed by another process "
                        "during the run; its figures are not reliable")
    if code_stamp() != stamp:
        print("\nwarning: application source files changed on disk during the run; "
              "lazily imported modules, the RQ worker and `points verify` may have run "
              "another version than the gunicorn workers")
    if stats.n5xx:
        failures.append(f"{stats.n5xx} answers 5xx")
    if stats.client_errors:
        failures.append(f"{sum(stats.client_errors.values())} client-side errors")
    if stats.unexpected:
        failures.append(f"{sum(stats.unexpected.values())} answers the contract does not allow")
    if stats.mismatches:
        failures.append(f"{stats.events['mismatch']} mismatches (replays, batch results)")

    base_t, base = memory[0]
    end_t, end = memory[-1]
    mem_lines = {}
    for pid in sorted(set(base) | set(end)):
        if pid in base and pid in end:
            growth = (end[pid] - base[pid]) / base[pid]
            mem_lines[f"worker {pid}"] = (f"{base[pid] / 1024:.1f} MB at t={base_t:.0f}s -> "
                                          f"{end[pid] / 1024:.1f} MB at t={end_t:.0f}s "
                                          f"({growth:+.1%})")
            if growth >= 0.10:
                failures.append(f"worker {pid} RSS grew {growth:.1%}")
        else:
            mem_lines[f"worker {pid}"] = "not present at both samples"
    if workers_at_start != workers_at_end or set(base) != set(end):
        failures.append(f"gunicorn workers changed during the run: {workers_at_start} -> "
                        f"{workers_at_end}")
    mem_lines["samples (MB per worker)"] = "; ".join(
        f"t={t:.0f}s " + "/".join(f"{kb / 1024:.1f}" for kb in s.values()) for t, s in memory)
    if worker_rss:
        mem_lines["RQ worker at the end"] = f"{worker_rss / 1024:.1f} MB"
    report("gunicorn worker memory (VmRSS)", mem_lines)

    quota_rows = sql("""
        SELECT p.id, p.title, p.total_quota, p.used, p.per_resident_limit,
               count(r.id) FILTER (WHERE r.status = 'granted'),
               count(r.id) FILTER (WHERE r.status = 'reversed')
        FROM perks p LEFT JOIN redemptions r ON r.perk_id = p.id
        GROUP BY p.id ORDER BY p.id""")
    over_quota = sum(max(0, granted - quota) for _, _, quota, _, _, granted, _ in quota_rows)
    used_wrong = [pid for pid, _, _, used, _, granted, _ in quota_rows if used != granted]
    over_limit = sql("""
        SELECT r.perk_id, r.subject_id, count(*) FROM redemptions r JOIN perks p ON p.id = r.perk_id
        WHERE r.status = 'granted' GROUP BY r.perk_id, r.subject_id, p.per_resident_limit
        HAVING count(*) > p.per_resident_limit""")
    stored = sql("SELECT count(*) FROM redemptions")[0][0]
    quota_lines = {f"perk {pid} {title}": f"quota {quota}, used {used}, granted {granted}, "
                   f"reversed {rev}, per resident {limit}"
                   for pid, title, quota, used, limit, granted, rev in quota_rows}
    quota_lines["redemptions over quota"] = over_quota
    quota_lines["residents over the per-resident limit"] = len(over_limit)
    quota_lines["grants the clients saw / rows stored"] = f"{len(stats.grant_ids)} / {stored}"
    report("perk quotas (SQL on the soak database)", quota_lines)
    if over_quota:
        failures.append(f"{over_quota} redemptions over quota")
    if used_wrong:
        failures.append(f"perks.used differs from the granted redemptions for perks {used_wrong}")
    if over_limit:
        failures.append(f"{len(over_limit)} residents over a per-resident limit")
    if len(stats.grant_ids) != stored:
        failures.append(f"clients saw {len(stats.grant_ids)} grants, {stored} stored")

    db = {
        "records": sql("SELECT count(*) FROM credit_records")[0][0],
        "records by status": dict(sql("SELECT status, count(*) FROM credit_records "
                                      "GROUP BY status ORDER BY 1")),
        "repair applications": dict(sql("SELECT status, count(*) FROM repair_applications "
                                        "GROUP BY status ORDER BY 1")),
        "objections": dict(sql("SELECT status, count(*) FROM objections GROUP BY status "
                               "ORDER BY 1")),
        "credit checks": sql("SELECT count(*) FROM credit_checks")[0][0],
        "deadlocks (pg_stat_database)": sql(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")[0][0],
        "levels (scores)": dict(sql("SELECT level, count(*) FROM scores GROUP BY level "
                                    "ORDER BY 1")),
        "notifications (outbox)": outbox,
        "WeChat stub calls": dict(stub.counts),
    }
    report("soak database", db)
    if outbox.get("pending") or outbox.get("failed"):
        failures.append(f"notifications not all sent within 60 s of the end: {outbox}")

    verify = subprocess.run([PYTHON, "-m", "flask", "--app", "wsgi", "points", "verify"],
                            cwd=ROOT, env={**env(), **extra}, capture_output=True, text=True,
                            check=False)
    verify_out = (verify.stdout + verify.stderr).strip().splitlines()
    report("points verify", {"exit code": verify.returncode,
                             "output": " | ".join(verify_out[-12:])})
    if verify.returncode != 0:
        failures.append(f"points verify exit code {verify.returncode}")

    log_text = server_log.read_text(errors="replace")
    tracebacks = log_text.count("Traceback")
    report("logs", {"gunicorn": f"{server_log} ({tracebacks} tracebacks)",
                    "RQ worker": str(worker_log)})
    if stats.server_errors:
        print("\n5xx answers:")
        for line, n in stats.server_errors.most_common():
            print(f"  {n} x {line}")
    if stats.unexpected:
        print("\nanswers the contract does not allow:")
        for key, n in stats.unexpected.most_common():
            print(f"  {n} x {key}")
        for line in stats.unexpected_samples[:10]:
            print("    e.g. " + line)
    if stats.client_errors:
        print("\nclient-side errors:")
        for key, n in stats.client_errors.most_common():
            print(f"  {n} x {key}")
    if stats.mismatches:
        print("\nmismatches:")
        for line in stats.mismatches[:20]:
            print("  " + line)

    print()
    print("soak: PASS" if not failures else f"soak: FAIL ({'; '.join(failures)})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
