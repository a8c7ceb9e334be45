"""Lazy exports for provider packages (PEP 562 module ``__getattr__``).

A provider package re-exports its public names without importing them, so importing one of
its SDK-free modules (``policies``, which the organization settings use) never imports the
provider's SDK, which may be an optional extra that is not installed.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def exports(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A ``__getattr__`` for ``package`` that imports ``name`` from ``package.names[name]``."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)  # found directly from now on
        return value

    return __getattr__
