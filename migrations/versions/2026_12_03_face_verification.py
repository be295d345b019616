"""Face-verified real-name binding (人脸核身): the face_verifications table, the name
WeChat verified on subjects, and the verification time on accounts.

Bindings made before this change proved nothing (any WeChat user could type any ID
number and name), so they become unverified: the subject each named moves to
`users.unverified_subject_id`, which gives no access to credit data until the person
verifies. A binding also wrote the typed name over the subject's name; where the
subject still holds exactly that (the same ciphertext), the name is cleared, so a
typed name can never be what departments' records are compared with (the next
department's record gives the subject its name again).

Revision ID: 2026_12_03_face_verification
Revises: 2026_11_30_no_health_data
"""
import sqlalchemy as sa
from alembic import op

import points.infra.db

revision = "2026_12_03_face_verification"
down_revision = "2026_11_30_no_health_data"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

users = sa.table("users", sa.column("id", ID), sa.column("subject_id", ID),
                 sa.column("unverified_subject_id", ID), sa.column("name_enc", sa.Text))
subjects = sa.table("subjects", sa.column("id", ID), sa.column("name_enc", sa.Text))


def upgrade() -> None:
    op.create_table(
        "face_verifications",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("out_seq_no", sa.String(length=32), nullable=False),
        sa.Column("verify_id", sa.String(length=256), nullable=False),
        sa.Column("cert_hash", sa.String(length=64), nullable=False),
        sa.Column("name_enc", sa.Text(), nullable=True),
        sa.Column("id_number_enc", sa.Text(), nullable=True),
        sa.Column("started_at", points.infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", points.infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("checked_at", points.infra.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("verify_ret", sa.Integer(), nullable=True),
        sa.Column("bound_at", points.infra.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("subject_id", ID, nullable=True),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"],
                                name=op.f("fk_face_verifications_subject_id_subjects")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_face_verifications_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_face_verifications")),
        sa.UniqueConstraint("out_seq_no", name=op.f("uq_face_verifications_out_seq_no")),
        sa.UniqueConstraint("verify_id", name=op.f("uq_face_verifications_verify_id")),
    )
    op.create_index(op.f("ix_face_verifications_user_id"), "face_verifications", ["user_id"])
    # Plain ADD COLUMN (no table rebuild: on SQLite a rebuild would drop `users`, and
    # with foreign keys on, that deletes every row referring to it).
    op.add_column("subjects", sa.Column("verified_name_enc", sa.Text(), nullable=True))
    op.add_column("users", sa.Column("identity_verified_at", points.infra.db.UTCDateTime(timezone=True),
                                     nullable=True))
    fk = "fk_users_unverified_subject_id_subjects"
    if op.get_bind().dialect.name == "sqlite":  # ALTER of constraints: only inline
        op.execute(f"ALTER TABLE users ADD COLUMN unverified_subject_id INTEGER "
                   f"CONSTRAINT {fk} REFERENCES subjects (id)")
    else:
        op.add_column("users", sa.Column("unverified_subject_id", ID,
                                         sa.ForeignKey("subjects.id", name=op.f(fk)),
                                         nullable=True))
    op.create_index(op.f("ix_users_unverified_subject_id"), "users", ["unverified_subject_id"])

    bind = op.get_bind()
    # The typed name the binding copied onto the subject, cleared first (while the
    # binding still names its subject).
    overwritten = sa.select(users.c.id).where(users.c.subject_id == subjects.c.id,
                                              users.c.name_enc == subjects.c.name_enc)
    bind.execute(subjects.update().where(overwritten.exists()).values(name_enc=None))
    bind.execute(users.update().where(users.c.subject_id.is_not(None))
                 .values(unverified_subject_id=users.c.subject_id, subject_id=None))


def downgrade() -> None:
    bind = op.get_bind()
    bind.execute(users.update().where(users.c.unverified_subject_id.is_not(None),
                                      users.c.subject_id.is_(None))
                 .values(subject_id=users.c.unverified_subject_id))
    op.drop_index(op.f("ix_users_unverified_subject_id"), table_name="users")
    if bind.dialect.name == "sqlite":  # SQLite drops a column with its inline constraint
        op.execute("ALTER TABLE users DROP COLUMN unverified_subject_id")
    else:
        op.drop_constraint(op.f("fk_users_unverified_subject_id_subjects"), "users",
                           type_="foreignkey")
        op.drop_column("users", "unverified_subject_id")
    op.execute("ALTER TABLE users DROP COLUMN identity_verified_at")
    op.execute("ALTER TABLE subjects DROP COLUMN verified_name_enc")
    op.drop_index(op.f("ix_face_verifications_user_id"), table_name="face_verifications")
    op.drop_table("face_verifications")
