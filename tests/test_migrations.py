"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from insitu.config import Settings
from insitu.db import get_engine
from insitu.migrate import upgrade
from insitu.models import Base


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_migrations_match_the_models_and_run_twice(settings: Settings) -> None:
    upgrade(settings.database_url)  # already at head: a no-op, not an error
    with get_engine(settings.database_url).connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
