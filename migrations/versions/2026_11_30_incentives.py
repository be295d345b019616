"""Merchants, perks, verification codes and redemptions (issue 5)

Revision ID: 2026_11_30_incentives
Revises: 2026_11_30_workflows
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import points.infra.db

revision = "2026_11_30_incentives"
down_revision = "2026_11_30_workflows"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('merchants',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('uscc', sa.String(length=18), nullable=False),
    sa.Column('sector', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('applicant_user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_at', points.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', points.infra.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.CheckConstraint("sector IN ('tourism', 'housekeeping', 'hotel', 'catering', 'culture', 'transport', 'other')", name=op.f('ck_merchants_sector')),
    sa.CheckConstraint("status IN ('pending', 'approved', 'rejected', 'suspended')", name=op.f('ck_merchants_status')),
    sa.ForeignKeyConstraint(['applicant_user_id'], ['users.id'], name=op.f('fk_merchants_applicant_user_id_users')),
    sa.ForeignKeyConstraint(['decided_by'], ['admin_accounts.id'], name=op.f('fk_merchants_decided_by_admin_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merchants')),
    sa.UniqueConstraint('uscc', name=op.f('uq_merchants_uscc'))
    )
    with op.batch_alter_table('merchants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_merchants_applicant_user_id'), ['applicant_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_merchants_sector'), ['sector'], unique=False)
        batch_op.create_index(batch_op.f('ix_merchants_status'), ['status'], unique=False)

    op.create_table('merchant_invitations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', points.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', points.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('accepted_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('accepted_at', points.infra.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['accepted_by'], ['users.id'], name=op.f('fk_merchant_invitations_accepted_by_users')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_merchant_invitations_created_by_users')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_merchant_invitations_merchant_id_merchants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merchant_invitations')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_merchant_invitations_code_hash'))
    )
    with op.batch_alter_table('merchant_invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_merchant_invitations_merchant_id'), ['merchant_id'], unique=False)

    op.create_table('merchant_staff',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('role', sa.String(length=8), nullable=False),
    sa.Column('added_at', points.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('owner', 'staff')", name=op.f('ck_merchant_staff_role')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_merchant_staff_merchant_id_merchants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_merchant_staff_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merchant_staff')),
    sa.UniqueConstraint('merchant_id', 'user_id', name=op.f('uq_merchant_staff_merchant_id_user_id'))
    )
    with op.batch_alter_table('merchant_staff', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_merchant_staff_user_id'), ['user_id'], unique=False)

    op.create_table('perks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('min_level', sa.String(length=8), nullable=False),
    sa.Column('benefit', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('total_quota', sa.Integer(), nullable=False),
    sa.Column('used', sa.Integer(), nullable=False),
    sa.Column('per_resident_limit', sa.Integer(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', points.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', points.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("min_level IN ('AAA', 'AA', 'A', 'B', 'C', 'D')", name=op.f('ck_perks_min_level')),
    sa.CheckConstraint('per_resident_limit >= 1', name=op.f('ck_perks_per_resident_limit')),
    sa.CheckConstraint('total_quota >= 1', name=op.f('ck_perks_total_quota')),
    sa.CheckConstraint('used >= 0 AND used <= total_quota', name=op.f('ck_perks_used')),
    sa.CheckConstraint('valid_until >= valid_from', name=op.f('ck_perks_dates')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_perks_merchant_id_merchants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_perks'))
    )
    with op.batch_alter_table('perks', schema=None) as batch_op:
        batch_op.create_index('ix_perks_merchant', ['merchant_id', 'id'], unique=False)

    op.create_table('verification_tokens',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subject_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', points.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', points.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', points.infra.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('used_by_merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_verification_tokens_subject_id_subjects')),
    sa.ForeignKeyConstraint(['used_by_merchant_id'], ['merchants.id'], name=op.f('fk_verification_tokens_used_by_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_verification_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verification_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_verification_tokens_token_hash'))
    )
    with op.batch_alter_table('verification_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_verification_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('verifications',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('token_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('perk_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('perk_version', sa.Integer(), nullable=False),
    sa.Column('staff_user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subject_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('eligible', sa.Boolean(), nullable=False),
    sa.Column('level', sa.String(length=8), nullable=True),
    sa.Column('restricted', sa.Boolean(), nullable=False),
    sa.Column('display_name', sa.String(length=60), nullable=False),
    sa.Column('reasons', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', points.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_verifications_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['perk_id'], ['perks.id'], name=op.f('fk_verifications_perk_id_perks')),
    sa.ForeignKeyConstraint(['staff_user_id'], ['users.id'], name=op.f('fk_verifications_staff_user_id_users')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_verifications_subject_id_subjects')),
    sa.ForeignKeyConstraint(['token_id'], ['verification_tokens.id'], name=op.f('fk_verifications_token_id_verification_tokens')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_verifications_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verifications')),
    sa.UniqueConstraint('token_id', name=op.f('uq_verifications_token_id'))
    )
    with op.batch_alter_table('verifications', schema=None) as batch_op:
        batch_op.create_index('ix_verifications_merchant_at', ['merchant_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_verifications_perk_id'), ['perk_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_verifications_subject_id'), ['subject_id'], unique=False)

    op.create_table('redemptions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('verification_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('perk_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subject_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('staff_user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('terms', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('display_name', sa.String(length=60), nullable=False),
    sa.Column('redeemed_at', points.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reversed_at', points.infra.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reversed_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('reverse_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('granted', 'reversed')", name=op.f('ck_redemptions_status')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_redemptions_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['perk_id'], ['perks.id'], name=op.f('fk_redemptions_perk_id_perks')),
    sa.ForeignKeyConstraint(['reversed_by'], ['users.id'], name=op.f('fk_redemptions_reversed_by_users')),
    sa.ForeignKeyConstraint(['staff_user_id'], ['users.id'], name=op.f('fk_redemptions_staff_user_id_users')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_redemptions_subject_id_subjects')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_redemptions_user_id_users')),
    sa.ForeignKeyConstraint(['verification_id'], ['verifications.id'], name=op.f('fk_redemptions_verification_id_verifications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_redemptions')),
    sa.UniqueConstraint('verification_id', name=op.f('uq_redemptions_verification_id'))
    )
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.create_index('ix_redemptions_merchant_at', ['merchant_id', 'redeemed_at'], unique=False)
        batch_op.create_index('ix_redemptions_perk_subject', ['perk_id', 'subject_id', 'status'], unique=False)
        batch_op.create_index('ix_redemptions_user', ['user_id', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.drop_index('ix_redemptions_user')
        batch_op.drop_index('ix_redemptions_perk_subject')
        batch_op.drop_index('ix_redemptions_merchant_at')

    op.drop_table('redemptions')
    with op.batch_alter_table('verifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_verifications_subject_id'))
        batch_op.drop_index(batch_op.f('ix_verifications_perk_id'))
        batch_op.drop_index('ix_verifications_merchant_at')

    op.drop_table('verifications')
    with op.batch_alter_table('verification_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_verification_tokens_user_id'))

    op.drop_table('verification_tokens')
    with op.batch_alter_table('perks', schema=None) as batch_op:
        batch_op.drop_index('ix_perks_merchant')

    op.drop_table('perks')
    with op.batch_alter_table('merchant_staff', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_merchant_staff_user_id'))

    op.drop_table('merchant_staff')
    with op.batch_alter_table('merchant_invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_merchant_invitations_merchant_id'))

    op.drop_table('merchant_invitations')
    with op.batch_alter_table('merchants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_merchants_status'))
        batch_op.drop_index(batch_op.f('ix_merchants_sector'))
        batch_op.drop_index(batch_op.f('ix_merchants_applicant_user_id'))

    op.drop_table('merchants')
