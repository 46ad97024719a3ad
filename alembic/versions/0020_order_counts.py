"""order_counts: the orders of each account created in each second, kept by a trigger on orders
(an order that counts toward MAX_ORDERS_PER_MINUTE: not a replacement of a stop-loss), its last
two minutes only; the risk gate sums them instead of counting every order of the last minute
(which grew with the rate of orders); filled from the orders of the last two minutes

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 02:00:00.000000

"""
import math
from datetime import UTC, datetime, timedelta
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = '0020'
down_revision: Union[str, None] = '0019'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

KEEP_SECONDS = 120  # the buckets kept behind the newest order's (the gate reads 60)

_POSTGRES = f"""
CREATE OR REPLACE FUNCTION signalgate_count_order() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    at_second bigint := floor(extract(epoch FROM NEW.created_at));
BEGIN
    IF NEW.leg <> 'sl' OR NEW.revision = 0 THEN
        INSERT INTO order_counts (account, second, n) VALUES (NEW.account, at_second, 1)
            ON CONFLICT (account, second) DO UPDATE SET n = order_counts.n + 1;
        DELETE FROM order_counts
            WHERE account = NEW.account AND second < at_second - {KEEP_SECONDS};
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER orders_counted AFTER INSERT ON orders
    FOR EACH ROW EXECUTE FUNCTION signalgate_count_order();
"""

# SQLite keeps a time as UTC text, which strftime('%s') reads as Unix time. An upsert that
# updates (an order saved again) fires no AFTER INSERT trigger, on either database.
_SQLITE = f"""
CREATE TRIGGER orders_counted AFTER INSERT ON orders
WHEN NEW.leg != 'sl' OR NEW.revision = 0
BEGIN
    INSERT INTO order_counts (account, second, n)
        VALUES (NEW.account, CAST(strftime('%s', NEW.created_at) AS INTEGER), 1)
        ON CONFLICT (account, second) DO UPDATE SET n = n + 1;
    DELETE FROM order_counts WHERE account = NEW.account
        AND second < CAST(strftime('%s', NEW.created_at) AS INTEGER) - {KEEP_SECONDS};
END
"""


def upgrade() -> None:
    counts = op.create_table(
        'order_counts',
        sa.Column('account', sa.String(length=100), nullable=False),
        sa.Column('second', sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('account', 'second'),
    )
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        bind.exec_driver_sql(_POSTGRES)
    else:
        bind.exec_driver_sql(_SQLITE)
    orders = sa.table(
        'orders',
        sa.column('account'),
        sa.column('leg'),
        sa.column('revision'),
        sa.column('created_at', sa.DateTime(timezone=True)),
    )
    since = datetime.now(UTC) - timedelta(seconds=KEEP_SECONDS)
    found: dict[tuple[str, int], int] = {}
    query = sa.select(orders.c.account, orders.c.created_at).where(
        orders.c.created_at >= since, sa.or_(orders.c.leg != 'sl', orders.c.revision == 0)
    )
    for account, at in bind.execute(query):
        key = (account, math.floor((at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()))
        found[key] = found.get(key, 0) + 1
    if found:
        op.bulk_insert(counts, [{'account': a, 'second': s, 'n': n}
                                for (a, s), n in found.items()])


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER IF EXISTS orders_counted ON orders')
        op.execute('DROP FUNCTION IF EXISTS signalgate_count_order()')
    else:
        op.execute('DROP TRIGGER IF EXISTS orders_counted')
    op.drop_table('order_counts')
