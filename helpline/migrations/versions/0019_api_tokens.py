"""API tokens and the API's request counts

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06

Tokens of staff-approved integrations (kept as SHA-256, revocable) and the count of requests
per client address and minute that the API's rate limit takes from.
"""
import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"],
                                name=op.f("fk_api_tokens_created_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_api_tokens_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "api_request_counts",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("minute", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_api_request_counts")),
    )
    op.create_index(op.f("ix_api_request_counts_minute"), "api_request_counts", ["minute"])


def downgrade() -> None:
    op.drop_index(op.f("ix_api_request_counts_minute"), table_name="api_request_counts")
    op.drop_table("api_request_counts")
    op.drop_table("api_tokens")
