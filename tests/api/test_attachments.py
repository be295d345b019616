"""Evidence files over HTTP: uploaded as PDF, JPEG or PNG judged by content (mislabelled,
malformed, empty and oversized files refused with 415/413), cited by repairs and
objections, read by the owner and the deciding department only, in the export, and
erased with the account unless a case still needs them."""
from __future__ import annotations

import datetime as dt
import hashlib
import io

import pytest
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from api import create_app
from points.infra.db import today
from points.models.attachments import Attachment, AttachmentCitation
from points.workflows import attachments
from tests.builders.departments import department, record_for
from tests.builders.files import jpeg, pdf, png
from tests.builders.residents import auth, dev_login, person

FILES = {"application/pdf": (pdf, "缴款书.pdf"), "image/jpeg": (jpeg, "收据.jpg"),
         "image/png": (png, "整改照片.png")}


def upload(client, who, data: bytes, name: str, declared: str | None = None):
    """The multipart body made in memory (the test client's own spools a large one to
    a temporary file it never closes)."""
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(data), name,
                                                           content_type=declared)})
    return client.post("/v1/me/attachments", headers=who["headers"], data=body,
                       content_type=f"multipart/form-data; boundary={boundary}")


def refused(response, status: int, code: str) -> None:
    assert (response.status_code, response.json["error_code"]) == (status, code), response.json


@pytest.fixture
def market(app, client):
    return department(app, client, "market")


def _decided_on() -> str:
    return (today() - dt.timedelta(days=150)).isoformat()  # repairable and still counting


def _repair(client, market, who, attachment_ids, **extra):
    record_id = record_for(client, market, who, decided_on=_decided_on())
    return client.post("/v1/me/repairs", headers={**who["headers"], **extra}, json={
        "record_id": record_id, "statement": "罚款已缴清", "commitment": "依法经营",
        "attachments": attachment_ids})


@pytest.mark.parametrize("kind", sorted(FILES))
def test_each_type_is_kept_and_sent_back_as_it_was(client, kind):
    zhang = person(client)
    make, name = FILES[kind]
    data = make()
    r = upload(client, zhang, data, name)
    assert r.status_code == 201, r.json
    assert r.json["content_type"] == kind and r.json["size"] == len(data)
    assert r.json["sha256"] == hashlib.sha256(data).hexdigest() and r.json["filename"] == name

    got = client.get(f"/v1/me/attachments/{r.json['id']}", headers=zhang["headers"])
    assert got.status_code == 200 and got.data == data
    assert got.headers["Content-Type"] == kind
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    disposition = got.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "filename*=UTF-8''" in disposition
    listed = client.get("/v1/me/attachments", headers=zhang["headers"]).json
    assert [a["id"] for a in listed] == [r.json["id"]]


def test_a_file_of_two_megabytes_and_more_is_taken(client):
    """Over the app's 2 MB body limit, under the upload's own 5 MB."""
    zhang = person(client)
    data = png((1100, 1000), noise=True)
    assert 2 * 2**20 < len(data) < attachments.MAX_BYTES
    r = upload(client, zhang, data, "大图.png")
    assert r.status_code == 201, r.json


def test_mislabelled_files_are_refused(client, session):
    zhang = person(client)
    # A PNG named .pdf (the test client declares application/pdf from the name).
    refused(upload(client, zhang, png(), "receipt.pdf"), 415, "UNSUPPORTED_FILE")
    # … and declared as nothing in particular: the name alone says another type.
    refused(upload(client, zhang, png(), "receipt.pdf", "application/octet-stream"), 415,
            "UNSUPPORTED_FILE")
    # A PNG named right but declared a PDF.
    refused(upload(client, zhang, png(), "receipt.png", "application/pdf"), 415,
            "UNSUPPORTED_FILE")
    # A text file labelled image/png, by name and declared type.
    r = upload(client, zhang, b"just some text, not a picture\n", "photo.png", "image/png")
    refused(r, 415, "UNSUPPORTED_FILE")
    assert "PDF" in r.json["message"]  # in Chinese by default: 只接受 PDF、JPEG 和 PNG …
    assert session.execute(select(Attachment)).first() is None


@pytest.mark.parametrize("data", [
    b"",  # empty
    png()[:40],  # a PNG cut off after its header
    png()[:-20],  # a PNG without its end
    jpeg()[:30],  # a JPEG cut short
    b"%PDF-1.7\n%garbage that is no PDF at all\n",
    b"\xff\xd8\xff\xe0" + b"\x00" * 200,  # JPEG magic, nothing behind it
    b"GIF89a" + b"\x00" * 100,  # another image type
], ids=["empty", "png-header-only", "png-truncated", "jpeg-truncated", "pdf-garbage",
        "jpeg-magic-only", "gif"])
def test_empty_malformed_and_other_files_are_refused(client, data):
    zhang = person(client)
    refused(upload(client, zhang, data, "file"), 415, "UNSUPPORTED_FILE")


def test_oversized_files_and_bodies_are_refused(client):
    zhang = person(client)
    too_big = b"%PDF-1.4\n" + b"0" * attachments.MAX_BYTES
    refused(upload(client, zhang, too_big, "big.pdf"), 413, "FILE_TOO_LARGE")
    # A body far over the limit is refused before it is read.
    refused(upload(client, zhang, too_big + b"0" * 2**20, "bigger.pdf"), 413, "FILE_TOO_LARGE")
    r = client.post("/v1/me/attachments", headers=zhang["headers"],
                    data=b"x" * (3 * 2**20), content_type="application/octet-stream")
    refused(r, 422, "VALIDATION_ERROR")  # within the limit, but no `file` part


def test_a_missing_file_part_is_a_validation_error(client):
    zhang = person(client)
    for data in ({}, {"file": "not a file, a text field"}, {"other": (io.BytesIO(png()), "a.png")}):
        r = client.post("/v1/me/attachments", headers=zhang["headers"], data=data,
                        content_type="multipart/form-data")
        refused(r, 422, "VALIDATION_ERROR")
    r = client.post("/v1/me/attachments", headers=zhang["headers"], json={"file": "x"})
    refused(r, 422, "VALIDATION_ERROR")


def test_the_same_file_again_is_the_same_attachment_and_the_quota_holds(client, monkeypatch):
    zhang = person(client)
    first = upload(client, zhang, png(), "a.png").json
    assert upload(client, zhang, png(), "a.png").json["id"] == first["id"]
    monkeypatch.setattr(attachments, "QUOTA_FILES", 2)
    assert upload(client, zhang, jpeg(), "b.jpg").status_code == 201
    r = upload(client, zhang, pdf(), "c.pdf")
    refused(r, 409, "ATTACHMENT_QUOTA_EXCEEDED")
    assert r.json["limit_files"] == 2


def test_uploading_needs_a_bound_identity(client):
    stranger = {"headers": auth(dev_login(client)["access_token"])}
    refused(upload(client, stranger, png(), "a.png"), 409, "IDENTITY_REQUIRED")


def test_cases_cite_their_files_and_show_them(client, market):
    zhang = person(client)
    ids = [upload(client, zhang, make(), name).json["id"] for make, name in FILES.values()]
    r = _repair(client, market, zhang, ids[::-1])
    assert r.status_code == 201, r.json
    assert [a["id"] for a in r.json["attachments"]] == ids[::-1]  # in the order given
    repair_id = r.json["id"]
    record_id = record_for(client, market, zhang, decided_on=_decided_on())
    r = client.post("/v1/me/objections", headers=zhang["headers"], json={
        "record_id": record_id, "reason": "不是本人", "attachments": [ids[0]]})
    assert r.status_code == 201 and [a["id"] for a in r.json["attachments"]] == [ids[0]]

    mine = client.get("/v1/me/repairs", headers=zhang["headers"]).json
    assert [a["id"] for a in mine[0]["attachments"]] == ids[::-1]
    listed = client.get("/v1/dept/repairs", headers=market).json
    assert [(x["id"], len(x["attachments"])) for x in listed] == [(repair_id, 3)]
    objections = client.get("/v1/dept/objections", headers=market).json
    assert [a["filename"] for a in objections[0]["attachments"]] == ["缴款书.pdf"]


def test_at_most_ten_files_and_only_ones_own(client, market, session):
    zhang, li = person(client), person(client, name="李四")
    ids = [upload(client, zhang, png((10 + n, 10)), f"p{n}.png").json["id"] for n in range(11)]
    r = _repair(client, market, zhang, ids)
    refused(r, 422, "VALIDATION_ERROR")
    assert "attachments" in r.json["errors"]["json"]

    theirs = upload(client, li, jpeg(), "li.jpg").json["id"]
    r = _repair(client, market, zhang, [ids[0], theirs])
    refused(r, 404, "ATTACHMENT_NOT_FOUND")
    assert r.json["attachment_ids"] == [theirs]
    r = _repair(client, market, zhang, [ids[0], 987654])
    refused(r, 404, "ATTACHMENT_NOT_FOUND")
    record_id = record_for(client, market, zhang, decided_on=_decided_on())
    r = client.post("/v1/me/objections", headers=zhang["headers"], json={
        "record_id": record_id, "reason": "不是本人", "attachments": [theirs]})
    refused(r, 404, "ATTACHMENT_NOT_FOUND")
    # Nothing of the refused cases was kept.
    assert client.get("/v1/me/repairs", headers=zhang["headers"]).json == []
    assert client.get("/v1/me/objections", headers=zhang["headers"]).json == []
    assert session.execute(select(AttachmentCitation)).first() is None


def test_who_may_read_a_file(app, client, market):
    zhang, li = person(client), person(client, name="李四")
    civil = department(app, client, "civil")
    cited = upload(client, zhang, pdf(), "缴款书.pdf").json["id"]
    kept = upload(client, zhang, png(), "未引用.png").json["id"]
    assert _repair(client, market, zhang, [cited]).status_code == 201

    def status(path, headers):
        return client.get(path, headers=headers).status_code

    for attachment_id, owner, deciding in ((cited, 200, 200), (kept, 200, 404)):
        assert status(f"/v1/me/attachments/{attachment_id}", zhang["headers"]) == owner
        assert status(f"/v1/me/attachments/{attachment_id}", li["headers"]) == 404
        assert status(f"/v1/dept/attachments/{attachment_id}", market) == deciding
        assert status(f"/v1/dept/attachments/{attachment_id}", civil) == 404
        assert status(f"/v1/dept/attachments/{attachment_id}", zhang["headers"]) == 401
    got = client.get(f"/v1/dept/attachments/{cited}", headers=market)
    assert got.headers["Content-Type"] == "application/pdf" and got.data[:5] == b"%PDF-"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    r = client.get("/v1/me/attachments/987654", headers=zhang["headers"])
    refused(r, 404, "ATTACHMENT_NOT_FOUND")


def test_a_retried_repair_with_files_is_the_same_repair(client, market, session):
    zhang = person(client)
    ids = [upload(client, zhang, pdf(), "缴款书.pdf").json["id"]]
    record_id = record_for(client, market, zhang, decided_on=_decided_on())
    body = {"record_id": record_id, "statement": "罚款已缴清", "commitment": "依法经营",
            "attachments": ids}
    headers = {**zhang["headers"], "Idempotency-Key": "repair-with-files-1"}
    first = client.post("/v1/me/repairs", headers=headers, json=body)
    again = client.post("/v1/me/repairs", headers=headers, json=body)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert len(session.execute(select(AttachmentCitation)).all()) == 1
    other = client.post("/v1/me/repairs", headers=headers, json={**body, "attachments": []})
    refused(other, 422, "IDEMPOTENCY_KEY_REUSED")


def test_the_export_lists_the_files(client, market):
    zhang = person(client)
    data = jpeg()
    attachment_id = upload(client, zhang, data, "收据.jpg").json["id"]
    repair_id = _repair(client, market, zhang, [attachment_id]).json["id"]
    exported = client.get("/v1/me/export", headers=zhang["headers"]).json
    assert [(a["id"], a["filename"], a["content_type"], a["size"], a["sha256"], a["repair_ids"])
            for a in exported["attachments"]] == [
        (attachment_id, "收据.jpg", "image/jpeg", len(data), hashlib.sha256(data).hexdigest(),
         [repair_id])]


def _closing_world(client, market):
    """A resident with three files: one cited by no case, one by a repair that was
    decided, one by a repair withdrawn."""
    zhang = person(client)
    loose = upload(client, zhang, png(), "loose.png").json["id"]
    decided = upload(client, zhang, pdf(), "decided.pdf").json["id"]
    dropped = upload(client, zhang, jpeg(), "dropped.jpg").json["id"]
    decided_repair = _repair(client, market, zhang, [decided]).json["id"]
    assert client.post(f"/v1/dept/repairs/{decided_repair}/decision", headers=market,
                       json={"approve": False, "note": "材料不全"}).status_code == 200
    withdrawn = _repair(client, market, zhang, [dropped]).json["id"]
    assert client.post(f"/v1/me/repairs/{withdrawn}/withdraw",
                       headers=zhang["headers"]).status_code == 200
    return zhang, loose, decided, dropped


def test_closing_the_account_erases_files_no_case_needs(client, market, session):
    zhang, loose, decided, dropped = _closing_world(client, market)
    assert client.delete("/v1/me", headers=zhang["headers"]).status_code == 204
    left = session.execute(select(Attachment.id, Attachment.user_id)).all()
    assert left == [(decided, None)]  # kept with the decided case, without the account
    assert client.get(f"/v1/dept/attachments/{decided}", headers=market).status_code == 200
    for gone in (loose, dropped):
        assert client.get(f"/v1/dept/attachments/{gone}", headers=market).status_code == 404


def test_files_in_a_directory(app, client, market, session, tmp_path, monkeypatch):
    """With ATTACHMENT_DIR the bytes are a file per attachment, not a database value;
    the files of erased attachments are deleted once the erasure commits, from this
    app's storage even when another app was made later in the process."""
    monkeypatch.setattr(app.state, "files", attachments.Storage(tmp_path))
    later = create_app({"TESTING": True})  # its own state, files in the database
    later.state.db.dispose()
    zhang, _, decided, _ = _closing_world(client, market)
    stored = {a.id: a for a in session.execute(select(Attachment)).scalars()}
    assert all(a.content is None for a in stored.values())
    paths = {i: attachments.Storage(tmp_path).path(a) for i, a in stored.items()}
    assert all(p.is_file() for p in paths.values())
    got = client.get(f"/v1/dept/attachments/{decided}", headers=market)
    assert got.status_code == 200 and got.data == paths[decided].read_bytes()

    assert client.delete("/v1/me", headers=zhang["headers"]).status_code == 204
    assert [i for i, p in paths.items() if p.exists()] == [decided]
    paths[decided].write_bytes(b"%PDF-1.4 changed on disk")
    refused(client.get(f"/v1/dept/attachments/{decided}", headers=market), 404,
            "ATTACHMENT_NOT_FOUND")  # content that no longer matches its SHA-256
