#!/usr/bin/env bash
# Runs every test of the repository on a fresh machine: installs what the tests need
# (the npm packages of the client tests; Debian's Chromium for the browser tests when it is
# missing and we may install it), then `dotnet test` on the whole solution.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f tests/Gateway.IntegrationTests/node/package.json ]; then
  (cd tests/Gateway.IntegrationTests/node && npm ci --no-audit --no-fund --loglevel=error)
fi

if ! command -v chromium >/dev/null 2>&1 && [ -f tests/Gateway.IntegrationTests/node/package.json ]; then
  if [ "$(id -u)" = "0" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
      || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
  elif command -v sudo >/dev/null 2>&1; then
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
      || (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
  fi
fi

exec dotnet test Gateway.sln -c Release "$@"
