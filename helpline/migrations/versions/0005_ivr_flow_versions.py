"""IVR settings: versioned call flows

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ivr_flow_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("based_on", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("published_at", sa.DateTime(), nullable=True),
        sa.Column("published_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"],
                                name=op.f("fk_ivr_flow_versions_created_by_id_users")),
        sa.ForeignKeyConstraint(["updated_by_id"], ["users.id"],
                                name=op.f("fk_ivr_flow_versions_updated_by_id_users")),
        sa.ForeignKeyConstraint(["published_by_id"], ["users.id"],
                                name=op.f("fk_ivr_flow_versions_published_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ivr_flow_versions")),
    )
    op.create_table(
        "ivr_flow_publications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["version_id"], ["ivr_flow_versions.id"],
                                name=op.f("fk_ivr_flow_publications_version_id_ivr_flow_versions")),
        sa.ForeignKeyConstraint(["by_id"], ["users.id"],
                                name=op.f("fk_ivr_flow_publications_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ivr_flow_publications")),
    )


def downgrade() -> None:
    op.drop_table("ivr_flow_publications")
    op.drop_table("ivr_flow_versions")
