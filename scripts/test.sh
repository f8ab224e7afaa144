#!/usr/bin/env bash
# `npm test`: installs everything, builds the packages, runs the whole test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/toolchain.sh
bash scripts/services.sh
bash scripts/ensure-chromium.sh
pnpm install --frozen-lockfile
pnpm build
node scripts/run-tests.mjs "$@"
