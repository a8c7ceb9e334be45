"""Re-encrypting every stored secret with the first key of the keyring.

A stored secret is any column whose name ends in ``_encrypted`` (the convention every model
follows: connections' settings, organizations' external IDs, ...), so a new one is rotated
without being listed here. Rows go in batches, each its own transaction; a secret already
encrypted with the first key is left alone, so a rotation that stopped half way is simply run
again, and a second run changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Column, Engine, Table, select, update

import insitu.models  # noqa: F401  (every table registered on Base.metadata)
from insitu.db import Base
from insitu.errors import InvalidInput
from insitu.security import Keyring, SecretBox

SUFFIX = "_encrypted"


@dataclass
class RotationReport:
    """How many secrets were re-encrypted and how many already used the first key, per column."""

    rotated: dict[str, int] = field(default_factory=dict)
    current: dict[str, int] = field(default_factory=dict)

    @property
    def total_rotated(self) -> int:
        return sum(self.rotated.values())

    @property
    def total_current(self) -> int:
        return sum(self.current.values())


def encrypted_columns() -> list[tuple[Table, Column[str]]]:
    """Every (table, column) that holds a secret encrypted with the keyring."""
    return [
        (table, column)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if column.name.endswith(SUFFIX)
    ]


def rotate(engine: Engine, *, keys: Keyring, batch: int = 500) -> RotationReport:
    """Re-encrypt, with the first key of ``keys``, every secret some other key encrypted."""
    box = SecretBox(keys)
    report = RotationReport()
    for table, column in encrypted_columns():
        name = f"{table.name}.{column.name}"
        report.rotated[name] = report.current[name] = 0
        id_column = table.c.id
        last = ""
        while True:
            with engine.begin() as connection:
                rows = connection.execute(
                    select(id_column, column)
                    .where(id_column > last, column.is_not(None))
                    .order_by(id_column)
                    .limit(batch)
                ).all()
                for row_id, token in rows:
                    if box.is_current(token):
                        report.current[name] += 1
                        continue
                    try:
                        rotated = box.rotate(token)
                    except InvalidInput as exc:
                        raise InvalidInput(
                            f"{name} of row {row_id} cannot be decrypted with any key of "
                            "the keyring; rotation stopped there (earlier batches stay "
                            "re-encrypted)",
                            fix="add the key it was encrypted with to INSITU_SECRET_KEYS "
                            "(after the new key) and run 'insitu secrets rotate' again",
                        ) from exc
                    connection.execute(
                        update(table).where(id_column == row_id).values({column.name: rotated})
                    )
                    report.rotated[name] += 1
            if len(rows) < batch:
                break
            last = rows[-1][0]
    return report
