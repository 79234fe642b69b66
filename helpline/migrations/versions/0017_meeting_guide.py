"""Meeting Guide meetings and the feeds supervisors configure

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06

A support group gains what a Meeting Guide feed carries (attendance, slug, types, building,
listing page, conference phone and notes); its source widens to hold the feed's URL. Meetings
entered with a link before this are online ones.
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("support_groups", schema=None) as batch_op:
        batch_op.alter_column("source", existing_type=sa.String(length=16),
                              type_=sa.String(length=500), existing_nullable=False)
        batch_op.add_column(sa.Column("attendance", sa.String(length=16),
                                      server_default="in_person", nullable=False))
        batch_op.add_column(sa.Column("slug", sa.String(length=128), server_default="",
                                      nullable=False))
        batch_op.add_column(sa.Column("types", sa.JSON(), server_default="[]",
                                      nullable=False))
        batch_op.add_column(sa.Column("location", sa.String(length=255), server_default="",
                                      nullable=False))
        batch_op.add_column(sa.Column("listing_url", sa.String(length=500), server_default="",
                                      nullable=False))
        batch_op.add_column(sa.Column("conference_phone", sa.String(length=64),
                                      server_default="", nullable=False))
        batch_op.add_column(sa.Column("conference_url_notes", sa.Text(), server_default="",
                                      nullable=False))
        batch_op.add_column(sa.Column("conference_phone_notes", sa.Text(), server_default="",
                                      nullable=False))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(),
                                      server_default=sa.func.current_timestamp(),
                                      nullable=False))
    op.execute("UPDATE support_groups SET attendance = 'online' WHERE online_url <> ''")
    op.create_table(
        "meeting_feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("default_timezone", sa.String(length=64), nullable=False),
        sa.Column("fellowship", sa.String(length=16), nullable=False),
        sa.Column("added_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_refreshed_at", sa.DateTime(), nullable=True),
        sa.Column("last_counts", sa.JSON(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_feeds")),
        sa.UniqueConstraint("url", name=op.f("uq_meeting_feeds_url")),
    )


def downgrade() -> None:
    op.drop_table("meeting_feeds")
    # A feed's URL does not fit the old column: its meetings go, and come back with the feed.
    op.execute("DELETE FROM support_groups WHERE length(source) > 16")
    with op.batch_alter_table("support_groups", schema=None) as batch_op:
        for column in ("updated_at", "conference_phone_notes", "conference_url_notes",
                       "conference_phone", "listing_url", "location", "types", "slug",
                       "attendance"):
            batch_op.drop_column(column)
        batch_op.alter_column("source", existing_type=sa.String(length=500),
                              type_=sa.String(length=16), existing_nullable=False)
