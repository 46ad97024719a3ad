"""signalgate_refuse_save(bracket): raises SQLSTATE SG409 (PostgreSQL only). A bracket save
written in one round trip (app/adapters/sql/bracket_flight.py) calls it when its compare-and-swap
matched no row, so that the whole transaction fails instead of committing the rest

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 11:00:00.000000

"""
from typing import Sequence, Union

from alembic import op


revision: str = '0014'
down_revision: Union[str, None] = '0013'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(
        """
        CREATE OR REPLACE FUNCTION signalgate_refuse_save(bracket text) RETURNS void
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'bracket % was saved since its holder read it', bracket
                USING ERRCODE = 'SG409';
        END
        $$
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('DROP FUNCTION IF EXISTS signalgate_refuse_save(text)')
