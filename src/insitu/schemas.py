"""API shapes shared by every domain."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list; pass ``next`` back as ``after`` to get the following page."""

    items: list[T]
    next: str | None = Field(description="Cursor of the next page, or null on the last one.")


# Characters that make a name display as something else: bidirectional overrides and isolates.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _displayable(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValueError("the name is blank; give it a name people can read in a list")
    for char in name:
        if unicodedata.category(char) in ("Cc", "Cs") or char in _BIDI_CONTROLS:
            raise ValueError(
                f"the name has an invisible or control character (U+{ord(char):04X}); "
                "use printable text"
            )
    return name


# A name people read in lists (projects, connections, keys, organizations).
DisplayName = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_displayable)]
