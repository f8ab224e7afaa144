#!/usr/bin/env bash
# `npm run demo`: installs everything, builds the packages, runs the main example.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/toolchain.sh
pnpm install --frozen-lockfile
pnpm build
exec pnpm --silent --filter @sluice/example-express-server start
