"""The facts about SQLAlchemy that DBI006 stands on, checked against the installed release, so
that a release that changes them is noticed (../shared/REFERENCE.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import StaticPool


async def _create_table(engine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE items (name TEXT)"))


async def _count(engine) -> int:
    async with engine.connect() as connection:
        return (await connection.execute(text("SELECT count(*) FROM items"))).scalar_one()


def test_an_aiosqlite_in_memory_engine_gets_static_pool():
    engine = create_async_engine("sqlite+aiosqlite://")
    assert isinstance(engine.pool, StaticPool)


@pytest.mark.parametrize("poolclass", [None, StaticPool])
def test_dispose_empties_an_aiosqlite_in_memory_database_whatever_the_pool(poolclass):
    async def scenario() -> None:
        engine = create_async_engine("sqlite+aiosqlite://", **({"poolclass": poolclass} if poolclass else {}))
        await _create_table(engine)
        assert await _count(engine) == 0
        await engine.dispose()
        with pytest.raises(OperationalError, match="no such table: items"):
            await _count(engine)
        await engine.dispose()

    asyncio.run(scenario())


def test_a_file_database_keeps_its_tables_through_dispose(tmp_path: Path):
    async def scenario() -> None:
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/test.db")
        await _create_table(engine)
        await engine.dispose()
        assert await _count(engine) == 0
        await engine.dispose()

    asyncio.run(scenario())
