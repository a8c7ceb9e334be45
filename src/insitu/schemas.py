"""API shapes shared by every domain."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list; pass ``next`` back as ``after`` to get the following page."""

    items: list[T]
    next: str | None = Field(description="Cursor of the next page, or null on the last one.")
