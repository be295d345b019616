"""Evidence files (证明材料): a resident uploads a PDF, JPEG or PNG of at most 5 MB (the
receipt of a paid fine, a rectification report) and cites it in repair applications
and objections; the department deciding such a case may read it, nobody else but the
owner.

The type is judged by the content, never by the name or the declared type: the
magic bytes name a candidate, and the file must then parse as that type (Pillow for
images, pypdf for PDFs). A name or declared type that says otherwise is a
mislabelled file and is refused as well (415 UNSUPPORTED_FILE).

The bytes live in the database (`attachments.content`, the default: both databases
and the embedded one) or, with ATTACHMENT_DIR set, in a file per attachment under that
directory, named `<sha256[:2]>/<id>-<sha256>`. A file written by a request whose
transaction then rolls back stays behind unreferenced (never served; safe to delete).

Closing an account erases its evidence files, except those a case still needs (a
repair not withdrawn, any objection): these stay with the case, without the account.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Select, delete, func, select, union, update
from sqlalchemy.orm import Session

from points.errors import Conflict, NotFound, TooLarge, Unsupported
from points.i18n import gettext
from points.infra.db import on_commit, utcnow
from points.models import Department, User
from points.models.attachments import Attachment, AttachmentCitation
from points.models.workflows import RepairApplication

MAX_BYTES = 5 * 1024 * 1024  # the contract's limit per file
MAX_PER_CASE = 10  # attachments one repair or objection may cite
# A person's quota: enough for every case they could reasonably have, not a file store.
QUOTA_FILES = 100
QUOTA_BYTES = 100 * 1024 * 1024
MAX_PIXELS = 60_000_000  # larger images are refused before they are decoded

PDF, JPEG, PNG = "application/pdf", "image/jpeg", "image/png"
# The leading bytes of each type (PDF 1.7 §7.5.2, JFIF/Exif SOI + marker, PNG signature).
MAGIC = ((b"%PDF-", PDF), (b"\x89PNG\r\n\x1a\n", PNG), (b"\xff\xd8\xff", JPEG))
EXTENSIONS = {PDF: (".pdf",), JPEG: (".jpg", ".jpeg", ".jpe", ".jfif"), PNG: (".png",)}
# Declared types meaning the same thing, and declarations that say nothing.
DECLARED_ALIASES = {"image/jpg": JPEG, "image/pjpeg": JPEG, "image/x-png": PNG,
                    "application/x-pdf": PDF}
UNDECLARED = {"", "application/octet-stream", "binary/octet-stream"}
# What looks like a file extension (letters, then letters or digits): "收据.2026" has none.
_EXTENSION = re.compile(r"\.[a-z][a-z0-9]{0,5}")


# -- judging a file ---------------------------------------------------------------------

def content_type_of(data: bytes) -> str:
    """The file's type by its content: its magic bytes, then a parse as that type.
    Empty, other or malformed content: Unsupported (415)."""
    if not data:
        raise Unsupported(gettext("the file is empty"))
    kind = next((kind for magic, kind in MAGIC if data.startswith(magic)), None)
    if kind is None:
        raise Unsupported(gettext("only PDF, JPEG and PNG files are accepted (judged by "
                                  "their content)"))
    try:
        _parse_pdf(data) if kind == PDF else _parse_image(data, kind)
    except Unsupported:
        raise
    except Exception:  # noqa: BLE001 - whatever a parser raises on a broken file
        raise Unsupported(gettext("the file is damaged or incomplete: it cannot be read as "
                                  "{kind}", kind=kind)) from None
    return kind


def _parse_image(data: bytes, kind: str) -> None:
    from PIL import Image

    fmt = "PNG" if kind == PNG else "JPEG"
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data), formats=[fmt]) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise Unsupported(gettext("the image is too large ({width} × {height} pixels)",
                                          width=width, height=height))
            image.verify()  # PNG: every chunk and its checksum
        if kind == JPEG:  # JPEG has no checksums: decode it, cheaply at a reduced scale
            with Image.open(io.BytesIO(data), formats=[fmt]) as image:
                image.draft("RGB", (256, 256))
                image.load()


def _parse_pdf(data: bytes) -> None:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted and not reader.decrypt(""):
        raise Unsupported(gettext("the PDF is protected by a password; upload it without one"))
    if len(reader.pages) < 1:
        raise Unsupported(gettext("the PDF has no pages"))


def clean_name(filename: str | None, kind: str) -> str:
    """The name to keep and to send the file under: its last path part, without
    control characters, at most 200 characters, ending with the type's extension."""
    name = unicodedata.normalize("NFC", (filename or "").replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().strip(".")
    stem, extension = _split(name)
    if not extension:
        stem, extension = name, EXTENSIONS[kind][0]
    stem = stem.strip() or "attachment"
    return stem[:200 - len(extension)] + extension


def _split(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    if dot and stem and _EXTENSION.fullmatch("." + ext.lower()):
        return stem, "." + ext.lower()
    return name, ""


def check_label(filename: str | None, declared: str | None, kind: str) -> None:
    """A name or declared type naming another type than the content is refused."""
    _, extension = _split(unicodedata.normalize("NFC", (filename or "").rsplit("/", 1)[-1]))
    if extension and extension not in EXTENSIONS[kind]:
        raise Unsupported(gettext("the file is named {extension} but its content is {kind}",
                                  extension=extension, kind=kind))
    said = (declared or "").split(";", 1)[0].strip().lower()
    said = DECLARED_ALIASES.get(said, said)
    if said not in UNDECLARED and said != kind:
        raise Unsupported(gettext("the file is declared as {declared} but its content is {kind}",
                                  declared=said, kind=kind))


# -- where the bytes are ----------------------------------------------------------------

@dataclass(frozen=True)
class Storage:
    """The database (`directory` None) or a directory of files."""

    directory: Path | None = None

    def path(self, attachment: Attachment) -> Path:
        assert self.directory is not None
        digest = attachment.sha256
        return self.directory / digest[:2] / f"{attachment.id}-{digest}"

    def write(self, attachment: Attachment, data: bytes) -> None:
        path = self.path(attachment)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        with open(partial, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)

    def read(self, attachment: Attachment) -> bytes:
        if attachment.content is not None:  # kept in the database (also before a move)
            return attachment.content
        if self.directory is None:
            raise NotFound(gettext("the file's content is not available here"),
                           "ATTACHMENT_NOT_FOUND")
        try:
            data = self.path(attachment).read_bytes()
        except FileNotFoundError:
            raise NotFound(gettext("the file's content is not available here"),
                           "ATTACHMENT_NOT_FOUND") from None
        if hashlib.sha256(data).hexdigest() != attachment.sha256:
            raise NotFound(gettext("the file's content is not available here"),
                           "ATTACHMENT_NOT_FOUND")
        return data

    def remove(self, attachments: list[tuple[int, str]]) -> None:
        """Delete the files of these (id, sha256) attachments (after their rows went)."""
        if self.directory is None:
            return
        for attachment_id, digest in attachments:
            path = self.directory / digest[:2] / f"{attachment_id}-{digest}"
            path.unlink(missing_ok=True)


# -- uploading, reading -----------------------------------------------------------------

def upload(session: Session, storage: Storage, user: User, filename: str | None,
           declared: str | None, data: bytes) -> Attachment:
    """Keep one evidence file of the user's. The same content under the same name
    uploaded again is the attachment kept the first time (a retried upload)."""
    if len(data) > MAX_BYTES:
        raise TooLarge(gettext("the file is over {megabytes} MB", megabytes=MAX_BYTES // 2**20),
                       limit_bytes=MAX_BYTES)
    kind = content_type_of(data)
    check_label(filename, declared, kind)
    name = clean_name(filename, kind)
    digest = hashlib.sha256(data).hexdigest()
    # The account's row, locked: two uploads at once cannot both pass the quota.
    session.execute(select(User.id).where(User.id == user.id).with_for_update())
    again = session.execute(select(Attachment).where(
        Attachment.user_id == user.id, Attachment.sha256 == digest,
        Attachment.filename == name)).scalars().first()
    if again is not None:
        return again
    files, used = session.execute(select(func.count(Attachment.id),
                                         func.coalesce(func.sum(Attachment.size), 0))
                                  .where(Attachment.user_id == user.id)).one()
    if files >= QUOTA_FILES or used + len(data) > QUOTA_BYTES:
        raise Conflict(gettext("your evidence files would exceed the quota of {limit_files} "
                               "files and {megabytes} MB", limit_files=QUOTA_FILES,
                               megabytes=QUOTA_BYTES // 2**20),
                       "ATTACHMENT_QUOTA_EXCEEDED", limit_files=QUOTA_FILES,
                       limit_bytes=QUOTA_BYTES)
    attachment = Attachment(user_id=user.id, filename=name, content_type=kind, size=len(data),
                            sha256=digest, created_at=utcnow(),
                            content=data if storage.directory is None else None)
    session.add(attachment)
    session.flush()
    if storage.directory is not None:
        storage.write(attachment, data)
    return attachment


def _not_found() -> NotFound:
    return NotFound(gettext("no such evidence file"), "ATTACHMENT_NOT_FOUND")


def own(session: Session, user: User, attachment_id: int) -> Attachment:
    """One of the user's attachments; anyone else's is not found."""
    attachment = session.get(Attachment, attachment_id)
    if attachment is None or attachment.user_id != user.id:
        raise _not_found()
    return attachment


def for_department(session: Session, department: Department, attachment_id: int) -> Attachment:
    """An attachment cited by a case this department decides; any other is not found."""
    attachment = session.execute(
        select(Attachment).join(AttachmentCitation,
                                AttachmentCitation.attachment_id == Attachment.id)
        .where(Attachment.id == attachment_id,
               AttachmentCitation.department_id == department.id).limit(1)).scalar_one_or_none()
    if attachment is None:
        raise _not_found()
    return attachment


def mine(user: User) -> Select:
    return select(Attachment).where(Attachment.user_id == user.id).order_by(Attachment.id.desc())


# -- citing in cases --------------------------------------------------------------------

def own_ids(session: Session, user: User, attachment_ids: list[int]) -> list[int]:
    """The ids, each once in the order given, if every one is the user's attachment;
    else 404 ATTACHMENT_NOT_FOUND naming those that are not. Checked before the case is
    written, so a refusal leaves nothing behind."""
    wanted = list(dict.fromkeys(attachment_ids))
    if not wanted:
        return []
    found = set(session.execute(select(Attachment.id).where(
        Attachment.id.in_(wanted), Attachment.user_id == user.id)).scalars())
    missing = [i for i in wanted if i not in found]
    if missing:
        raise NotFound(gettext("no evidence file {ids} of yours",
                               ids=", ".join(str(i) for i in missing)),
                       "ATTACHMENT_NOT_FOUND", attachment_ids=missing)
    return wanted


def cite(session: Session, attachment_ids: list[int], department_id: int, *,
         repair_id: int | None = None, objection_id: int | None = None) -> None:
    """Attachments (`own_ids`) cited by one case, in the order given; the deciding
    department may read them from now on."""
    session.add_all(AttachmentCitation(attachment_id=i, repair_id=repair_id,
                                       objection_id=objection_id, department_id=department_id,
                                       position=n) for n, i in enumerate(attachment_ids))
    session.flush()


def view(attachment: Attachment) -> dict[str, Any]:
    return {"id": attachment.id, "filename": attachment.filename,
            "content_type": attachment.content_type, "size": attachment.size,
            "sha256": attachment.sha256, "created_at": attachment.created_at}


def of_cases(session: Session, kind: str, case_ids: list[int]) -> dict[int, list[dict]]:
    """The attachments each case cites, in the order cited: kind `repair` or `objection`."""
    column = AttachmentCitation.repair_id if kind == "repair" else AttachmentCitation.objection_id
    found: dict[int, list[dict]] = {case_id: [] for case_id in case_ids}
    if not case_ids:
        return found
    rows = session.execute(select(column, Attachment)
                           .join(Attachment, Attachment.id == AttachmentCitation.attachment_id)
                           .where(column.in_(case_ids))
                           .order_by(column, AttachmentCitation.position))
    for case_id, attachment in rows:
        found[case_id].append(view(attachment))
    return found


# -- the person's rights ------------------------------------------------------------------

def export_section(session: Session, user: User) -> list[dict[str, Any]]:
    """The user's evidence files for the export: what each is and which cases cite it
    (the bytes: GET /v1/me/attachments/{id})."""
    attachments = session.execute(mine(user).order_by(None).order_by(Attachment.id)).scalars()
    rows = []
    for attachment in attachments:
        cited = session.execute(select(AttachmentCitation.repair_id,
                                       AttachmentCitation.objection_id).where(
            AttachmentCitation.attachment_id == attachment.id)).all()
        item = view(attachment)
        item["created_at"] = attachment.created_at.isoformat()
        item["repair_ids"] = sorted(r for r, _ in cited if r is not None)
        item["objection_ids"] = sorted(o for _, o in cited if o is not None)
        rows.append(item)
    return rows


def still_needed() -> Select:
    """Attachments a case needs: cited by a repair not withdrawn, or by an objection."""
    by_repair = (select(AttachmentCitation.attachment_id)
                 .join(RepairApplication, RepairApplication.id == AttachmentCitation.repair_id)
                 .where(RepairApplication.status != "withdrawn"))
    by_objection = select(AttachmentCitation.attachment_id).where(
        AttachmentCitation.objection_id.is_not(None))
    return union(by_repair, by_objection)


def erase_account(session: Session, user: User, storage: Storage) -> None:
    """With the account: its attachments no case needs are deleted (their files once
    the deletion commits); those a case needs stay with the case, without the account."""
    needed = still_needed().subquery()
    gone = session.execute(select(Attachment.id, Attachment.sha256).where(
        Attachment.user_id == user.id, Attachment.id.not_in(select(needed.c.attachment_id)))
    ).all()
    if gone:
        session.execute(delete(AttachmentCitation).where(
            AttachmentCitation.attachment_id.in_([i for i, _ in gone])))
        session.execute(delete(Attachment).where(Attachment.id.in_([i for i, _ in gone])))
        files = [(i, digest) for i, digest in gone]
        on_commit(session, lambda: storage.remove(files))
    session.execute(update(Attachment).where(Attachment.user_id == user.id).values(user_id=None))

