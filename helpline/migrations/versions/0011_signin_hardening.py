"""Sign-in: TOTP replay, forced password change, sessions ended by a password change

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

A TOTP code is good for one sign-in: the newest accepted time step is kept per user. An admin's
reset obliges a new password at the next sign-in. A password change raises the user's session
epoch; a session opened at an older epoch no longer counts. Existing rows take the defaults.
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN with a constant default needs no table copy on SQLite; a batch copy of users,
    # which most tables point at, would trip their foreign keys.
    op.add_column("users", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    op.add_column("users", sa.Column("must_change_password", sa.Boolean(), nullable=False,
                                     server_default=sa.false()))
    op.add_column("users", sa.Column("session_epoch", sa.Integer(), nullable=False,
                                     server_default="0"))
    op.add_column("staff_sessions", sa.Column("epoch", sa.Integer(), nullable=False,
                                              server_default="0"))


def downgrade() -> None:
    # In place (SQLite 3.35+ drops a column itself), for the same reason.
    op.drop_column("staff_sessions", "epoch")
    op.drop_column("users", "session_epoch")
    op.drop_column("users", "must_change_password")
    op.drop_column("users", "totp_last_step")
