# Shared by scripts/serve and scripts/test: install whatever is missing, quickly when
# everything is already there. Sourced, not run.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BINARYEN_VERSION=132
ESBUILD_VERSION=0.28.2
# Tools that are not cargo binaries live here, outside the checkout, so fresh clones reuse them.
TOOLS_DIR="${SPECKLE_TOOLS_DIR:-$HOME/.cache/speckle-tokens-tools}"
export PATH="$HOME/.cargo/bin:$TOOLS_DIR/node_modules/.bin:$PATH"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  say "installing $* (apt)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

ensure_rust_tools() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32 target"
    rustup target add wasm32-unknown-unknown
  fi
  local wasm_bindgen_version
  wasm_bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
  if ! wasm-bindgen --version 2>/dev/null | grep -q " $wasm_bindgen_version\$"; then
    # Not --locked: one of its locked dependencies is missing from the registry.
    say "installing wasm-bindgen-cli $wasm_bindgen_version (the version in Cargo.lock)"
    cargo install wasm-bindgen-cli --version "$wasm_bindgen_version"
  fi
  if ! wasm-opt --version 2>/dev/null | grep -q "version $BINARYEN_VERSION"; then
    # Debian's binaryen (108) is too old: its output breaks hydration in the browser.
    say "installing wasm-opt from binaryen $BINARYEN_VERSION (npm)"
    mkdir -p "$TOOLS_DIR"
    npm install --silent --prefix "$TOOLS_DIR" "binaryen@$BINARYEN_VERSION" >/dev/null
  fi
  if ! esbuild --version 2>/dev/null | grep -qxF "$ESBUILD_VERSION"; then
    say "installing esbuild $ESBUILD_VERSION (npm), which minifies the site's JS and CSS"
    mkdir -p "$TOOLS_DIR"
    npm install --silent --prefix "$TOOLS_DIR" "esbuild@$ESBUILD_VERSION" >/dev/null
  fi
}

# The Rust suite's runner (scripts/test only): a process per test, and a time limit on each.
ensure_nextest() {
  if ! cargo nextest --version >/dev/null 2>&1; then
    say "installing cargo-nextest"
    cargo install cargo-nextest --locked
  fi
}

ensure_browser_tools() {
  command -v chromium >/dev/null || apt_install chromium
  if [ ! -d end2end/node_modules/@playwright/test ]; then
    say "installing the Playwright test runner (npm ci)"
    (cd end2end && npm ci --silent)
  fi
}

# GraphiQL (GET /graphql) is served from our own origin: its pinned files (scripts/graphiql)
# are installed from npm and copied into public/graphiql, which the build copies into the site.
ensure_graphiql_assets() {
  local dir=scripts/graphiql out=public/graphiql
  if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.installed-lock.json"; then
    say "installing GraphiQL's pinned files (npm ci)"
    (cd "$dir" && npm ci --silent --no-audit --no-fund)
    cp "$dir/package-lock.json" "$dir/node_modules/.installed-lock.json"
  fi
  local graphiql react
  graphiql=$(node -p "require('./$dir/node_modules/graphiql/package.json').version")
  react=$(node -p "require('./$dir/node_modules/react/package.json').version")
  rm -rf "$out" && mkdir -p "$out"
  cp "$dir/node_modules/graphiql/graphiql.min.js" "$out/graphiql-$graphiql.min.js"
  cp "$dir/node_modules/graphiql/graphiql.min.css" "$out/graphiql-$graphiql.min.css"
  cp "$dir/node_modules/react/umd/react.production.min.js" "$out/react-$react.min.js"
  cp "$dir/node_modules/react-dom/umd/react-dom.production.min.js" "$out/react-dom-$react.min.js"
}

# Cargo for the release, told about the site what cargo-leptos tells the compiler (Cargo.toml's
# [package.metadata.leptos]): the server, the WASM and the bench's examples agree on names and
# share their builds.
release_cargo() {
  env LEPTOS_OUTPUT_NAME=speckle-tokens LEPTOS_SITE_ROOT=target/site LEPTOS_SITE_PKG_DIR=pkg \
    LEPTOS_HASH_FILES=true LEPTOS_HASH_FILE_NAME=hash.txt cargo "$@"
}

# The release: the server, the pages' WASM (wasm-bindgen, wasm-opt), and target/site with
# hashed names and precompressed files (scripts/site.mjs). Plain cargo: cargo-leptos is only
# needed for `cargo leptos watch`.
build_release() {
  ensure_graphiql_assets
  say "building the server (release)"
  release_cargo build --release --bin speckle-tokens --no-default-features --features ssr
  say "building the pages' WASM (release)"
  release_cargo build --lib --target wasm32-unknown-unknown --no-default-features --features hydrate \
    --profile wasm-release
  # Not target/front: that is cargo-leptos's own build folder (`cargo leptos watch`).
  local bindgen=target/wasm-bindgen
  rm -rf "$bindgen" target/release/hash.txt
  wasm-bindgen --target web --out-name speckle-tokens --out-dir "$bindgen" --no-typescript \
    target/wasm32-unknown-unknown/wasm-release/speckle_tokens.wasm
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
    "$bindgen/speckle-tokens_bg.wasm" -o "$bindgen/speckle-tokens_bg.wasm"
  node scripts/site.mjs "$bindgen" target/site target/release
}

# Installs and starts Debian's PostgreSQL when missing, with a role and database for the
# tests; sets PG_VERSION and TEST_DATABASE_URL. Used by .ci/run; a laptop needs none of it.
ensure_postgres() {
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" && $4 == "online"' | grep -q .; then
    say "starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  fi
  local psql=(as_root su postgres -c)
  if ! "${psql[@]}" "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname = 'speckle'\"" | grep -q 1; then
    "${psql[@]}" "psql -qc \"CREATE ROLE speckle LOGIN CREATEDB PASSWORD 'speckle'\""
  fi
  if ! "${psql[@]}" "psql -tAc \"SELECT 1 FROM pg_database WHERE datname = 'speckle'\"" | grep -q 1; then
    "${psql[@]}" "createdb -O speckle speckle"
  fi
  # Databases left by earlier test runs (each test makes its own).
  "${psql[@]}" "psql -tAc \"SELECT datname FROM pg_database WHERE datname LIKE 'speckle_test_%'\"" |
    while read -r db; do "${psql[@]}" "dropdb --if-exists $db" ;  done
  PG_VERSION="$version"
  TEST_DATABASE_URL="postgres://speckle:speckle@127.0.0.1:5432/speckle"
}

# Virtualenvs with the pinned specklepy of each era: the stream era's 2.17
# (tests/specklepy/requirements.txt) and today's 2026.9 (tests/specklepy2026/, with authlib
# and Playwright for Python, which drives the system's Chromium), outside the
# checkout so fresh clones reuse them; each rebuilt when its pins change.
SPECKLEPY_VENV="$TOOLS_DIR/specklepy-venv"
SPECKLEPY_2026_VENV="$TOOLS_DIR/specklepy-2026-venv"
ensure_specklepy() {
  ensure_venv tests/specklepy/requirements.txt "$SPECKLEPY_VENV"
  ensure_venv tests/specklepy2026/requirements.txt "$SPECKLEPY_2026_VENV"
}

ensure_venv() {
  local requirements=$1 venv=$2
  if [ -x "$venv/bin/python" ] && cmp -s "$requirements" "$venv/requirements.txt"; then
    return
  fi
  python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
  say "installing $(grep -i '^specklepy==' "$requirements") (pinned, from PyPI) into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/requirements.txt"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts the release binary on the database $1 (a DATABASE_URL) at a free port, runs both
# specklepy suites against it, and stops it.
run_specklepy_suite() {
  local database_url=$1 port workdir server status=0
  port=$(free_port)
  workdir=$(mktemp -d)
  DATABASE_URL="$database_url" LEPTOS_SITE_ADDR="127.0.0.1:$port" LEPTOS_SITE_ROOT=target/site \
    LEPTOS_ENV=PROD RUST_LOG=warn target/release/speckle-tokens >"$workdir/server.log" 2>&1 &
  server=$!
  # On PostgreSQL a second server shares the database: the live updates cross from one to
  # the other (on SQLite they are in-process, so the suites use the one server).
  local other_port="" other=""
  if [[ "$database_url" == postgres* ]]; then
    other_port=$(free_port)
    DATABASE_URL="$database_url" LEPTOS_SITE_ADDR="127.0.0.1:$other_port" LEPTOS_SITE_ROOT=target/site \
      LEPTOS_ENV=PROD RUST_LOG=warn target/release/speckle-tokens >"$workdir/other.log" 2>&1 &
    other=$!
  fi
  for p in $port $other_port; do
    for _ in $(seq 100); do
      python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$p/healthz')" 2>/dev/null && break
      sleep 0.1
    done
  done
  # specklepy keeps a local object cache and account files under this folder (one for each
  # version: their formats differ).
  SPECKLE_USERDATA_PATH="$workdir" SPECKLE_URL="http://127.0.0.1:$port" \
    "$SPECKLEPY_VENV/bin/python" tests/specklepy/test_specklepy.py || status=$?
  mkdir -p "$workdir/2026"
  SPECKLE_USERDATA_PATH="$workdir/2026" SPECKLE_URL="http://127.0.0.1:$port" \
    SPECKLE_OTHER_URL="http://127.0.0.1:${other_port:-$port}" \
    "$SPECKLEPY_2026_VENV/bin/python" tests/specklepy2026/test_specklepy2026.py || status=$?
  # A third-party app's OAuth (authlib, through the consent page in Chromium) and specklepy
  # with its tokens.
  SPECKLE_USERDATA_PATH="$workdir/2026" SPECKLE_URL="http://127.0.0.1:$port" CHROMIUM="$(command -v chromium)" \
    timeout 300 "$SPECKLEPY_2026_VENV/bin/python" tests/specklepy2026/test_oauth.py || status=$?
  kill "$server" $other 2>/dev/null || true
  wait "$server" $other 2>/dev/null || true
  if [ "$status" != 0 ]; then
    echo "--- server log ---"; tail -n 50 "$workdir/server.log"
  fi
  rm -rf "$workdir"
  return "$status"
}

# A new, empty database on the PostgreSQL server of TEST_DATABASE_URL; prints its URL. Its
# name starts with speckle_test_, so ensure_postgres drops it on a later run.
fresh_postgres_database() {
  local name="speckle_test_specklepy_$$_$RANDOM"
  psql "$TEST_DATABASE_URL" -qc "CREATE DATABASE $name" >/dev/null
  echo "${TEST_DATABASE_URL%/*}/$name"
}
