"""A provider's New connection form, made from its config model's JSON schema.

The portal knows no provider's fields: each comes from the model's schema (title,
description, enum, default); a secret (``SecretStr``, ``format: password``) is a password
field. Submitted fields are named ``setting__<field>``; an empty one is left out, so the
model's default applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from insitu.storage.base import ProviderConfig

PREFIX = "setting__"


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    help: str | None
    kind: str  # "text", "password" or "select"
    options: tuple[str, ...]
    default: str
    required: bool

    @property
    def input_name(self) -> str:
        return PREFIX + self.name


def fields(model: type[ProviderConfig]) -> list[FormField]:
    """The form fields of ``model``, in its declared order."""
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    made = []
    for name, spec in schema.get("properties", {}).items():
        variants = [spec, *spec.get("anyOf", ())]
        enum = next((v["enum"] for v in variants if "enum" in v), None)
        secret = any(v.get("format") == "password" for v in variants)
        default = spec.get("default")
        made.append(
            FormField(
                name=name,
                label=spec.get("title") or name.replace("_", " ").capitalize(),
                help=spec.get("description"),
                kind="select" if enum else "password" if secret else "text",
                options=tuple(str(option) for option in enum or ()),
                default="" if default is None else str(default),
                required=name in required,
            )
        )
    return made


def settings_from(form: Mapping[str, Any], model: type[ProviderConfig]) -> dict[str, str]:
    """The settings a submitted form names for ``model``; empty fields are left out."""
    settings = {}
    for field in fields(model):
        value = form.get(field.input_name)
        if isinstance(value, str) and value.strip():
            settings[field.name] = value.strip()
    return settings


def values_from(form: Mapping[str, Any]) -> dict[str, str]:
    """What the person typed in the connection fields, to show again after an error."""
    return {
        key.removeprefix(PREFIX): value
        for key, value in form.items()
        if key.startswith(PREFIX) and isinstance(value, str)
    }
