#!/usr/bin/env bash
# Installs the external tools Peregrine's end-to-end tests need, from package
# registries only. Idempotent: safe to run again; does nothing expensive when
# everything is already in place.
#
#   scripts/install-tools.sh
#
# Needs: node >= 18 and npm (Debian: `apt-get install nodejs npm`, or node 20 from
# any distribution). Installs into the repository, nothing global:
#   tests/js/node_modules/        cast + anvil (Foundry, via @foundry-rs/*-linux-amd64),
#                                 viem, solc-js, OpenZeppelin contracts  (versions pinned by tests/js/package-lock.json)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JS_DIR="$ROOT/tests/js"

log() { printf '[install-tools] %s\n' "$*"; }
die() { printf '[install-tools] ERROR: %s\n' "$*" >&2; exit 1; }

# --- prerequisites -----------------------------------------------------------
command -v node >/dev/null 2>&1 || die "node not found; install Node.js >= 18 (e.g. apt-get install -y nodejs npm)"
command -v npm >/dev/null 2>&1 || die "npm not found; install npm (e.g. apt-get install -y npm)"
NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
[ "$NODE_MAJOR" -ge 18 ] || die "node $(node --version) is too old; need >= 18"

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) die "tests/js/package.json pins the linux-amd64 builds of cast/anvil; this is $(uname -s)-$(uname -m)" ;;
esac

# --- JavaScript tooling: cast, anvil, viem, solc-js -------------------------
# Skip npm entirely when node_modules already matches the lockfile
# (npm writes node_modules/.package-lock.json on every install).
cd "$JS_DIR"
needs_install=1
if [ -f package-lock.json ] && [ -f node_modules/.package-lock.json ] \
   && [ node_modules/.package-lock.json -nt package-lock.json ] \
   && [ node_modules/.package-lock.json -nt package.json ] \
   && [ -x node_modules/.bin/cast ] && [ -x node_modules/.bin/anvil ] \
   && [ -d node_modules/viem ] && [ -d node_modules/solc ] && [ -d node_modules/@openzeppelin/contracts ]; then
  needs_install=0
fi

if [ "$needs_install" = 1 ]; then
  if [ -f package-lock.json ]; then
    log "npm ci in tests/js (exact versions from package-lock.json)"
    npm ci --no-audit --no-fund
  else
    log "no package-lock.json yet: npm install in tests/js (commit the package-lock.json it writes)"
    npm install --no-audit --no-fund
  fi
else
  log "tests/js/node_modules is up to date with package-lock.json"
fi

# --- verify ------------------------------------------------------------------
for tool in cast anvil; do
  bin="$JS_DIR/node_modules/.bin/$tool"
  [ -x "$bin" ] || die "$bin missing after npm install"
  version="$("$bin" --version 2>&1 | head -n1)" || die "$tool --version failed: $version"
  log "$tool: $version"
done
node --input-type=module -e 'import("viem").then(() => import("solc")).then(s => console.log("[install-tools] viem ok, solc-js " + s.default.version()))' \
  || die "viem/solc-js do not load from tests/js/node_modules"

# --- Prometheus (dashboard test) -------------------------------------------
# Debian's package; the test starts its own server, so the service is not enabled.
if ! command -v prometheus >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || die "prometheus not found and apt-get is unavailable; install Prometheus >= 2.40"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log "installing prometheus (Debian package)"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
    || die "apt-get install prometheus failed"
fi
log "prometheus: $(prometheus --version 2>&1 | head -n 1)"

log "done"
