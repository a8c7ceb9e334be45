from __future__ import annotations

import json
from typing import Annotated

import typer

from insitu.cli.common import console, settings
from insitu.storage.registry import get_provider


def cors(provider: Annotated[str, typer.Argument(help="s3, azure, gcs or local.")]) -> None:
    """Print the bucket CORS rules for the configured portal origins, and how to apply them."""
    advice = get_provider(provider).cors_advice(settings().portal_origins)
    console.print_json(json.dumps(advice.rules))
    console.print(f"\nApply with:\n  {advice.command}", highlight=False, soft_wrap=True)
