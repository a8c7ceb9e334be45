#!/usr/bin/env bash
# Azurite (the Azure Blob Storage emulator) with its own Node 22, under .tools/azurite.
# Azurite 3.37 needs Node 22; the system Node may be older, so a private copy is installed
# from npm and the test fixture puts it first on PATH. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/../.."
PREFIX=.tools/azurite
AZURITE_VERSION=3.37.0
installed=$(node -p "require('./$PREFIX/node_modules/azurite/package.json').version" 2>/dev/null || true)
if [ "$installed" = "$AZURITE_VERSION" ] && [ -x "$PREFIX/node_modules/node/bin/node" ]; then
  exit 0
fi
mkdir -p "$PREFIX"
npm install --silent --no-audit --no-fund --prefix "$PREFIX" node@22 "azurite@$AZURITE_VERSION"
