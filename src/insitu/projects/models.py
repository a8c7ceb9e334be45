from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, String, true
from sqlalchemy.orm import Mapped, mapped_column

from insitu.db import Base, IdMixin


class Project(IdMixin, Base):
    __tablename__ = "projects"

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    self_hosted: Mapped[bool] = mapped_column(default=True)
    # Media kinds the project accepts; None accepts every kind insitu knows.
    allowed_kinds: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    # Whether a reconcile imports files that appeared under the project's import prefixes.
    import_new_files: Mapped[bool] = mapped_column(default=True, server_default=true())
