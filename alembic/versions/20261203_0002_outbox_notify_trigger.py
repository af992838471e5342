"""outbox insert notifies the relay

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 21:50:00

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """One NOTIFY per statement that adds outbox rows, delivered at commit (none on rollback): the relay wakes
    exactly when there is work, and a write needs no extra round trip to say so."""
    op.execute(
        """
        CREATE FUNCTION agorax_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('agorax_outbox', '');
            RETURN NULL;
        END;
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox "
        "FOR EACH STATEMENT EXECUTE FUNCTION agorax_outbox_notify()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER outbox_notify ON outbox")
    op.execute("DROP FUNCTION agorax_outbox_notify()")
