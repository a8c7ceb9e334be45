"""A provider's New connection form, made from its config model's JSON schema.

The portal knows no provider's fields: each comes from the model's schema (title,
description, enum, default); a secret (``ProviderConfig.secret_fields``) is a password
field. Submitted fields are named ``setting__<field>``; an empty one is left out, so the
model's default applies. A field that holds a structure (an S3 connection's ``events``) has
no input: it is set through the API.
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
    kind: str  # "text", "password", "select", or "structure" (no input: set through the API)
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
        secret = name in model.secret_fields()
        structure = any("$ref" in v or v.get("type") == "object" for v in variants)
        default = spec.get("default")
        kind = "select" if enum else "password" if secret else "text"
        made.append(
            FormField(
                name=name,
                label=spec.get("title") or name.replace("_", " ").capitalize(),
                help=spec.get("description"),
                kind="structure" if structure else kind,
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
        if field.kind == "structure":
            continue
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


def edited_settings(form: Mapping[str, Any], model: type[ProviderConfig]) -> dict[str, Any]:
    """The settings an Edit form sends: every field it shows as typed, an emptied one back
    to its default (null); a secret only when typed (never shown, so kept if left empty)."""
    settings: dict[str, Any] = {}
    for field in fields(model):
        if field.kind == "structure":
            continue
        value = form.get(field.input_name)
        typed = value.strip() if isinstance(value, str) else ""
        if typed or field.kind != "password":
            settings[field.name] = typed or None
    return settings
