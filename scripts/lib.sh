# Shared by scripts/run, scripts/test and .ci/run: install what Agorax needs and make sure the services answer.
# Sourced, not executed.

AGORAX_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REFLEX_TELEMETRY_ENABLED=false REFLEX_CHECK_LATEST_VERSION=false
export REFLEX_HTTP_CLIENT_BIND_ADDRESS=0.0.0.0 REFLEX_USE_SYSTEM_BUN=1
if command -v npm >/dev/null 2>&1; then
  NPM_CONFIG_REGISTRY="$(npm config get registry)"
  export NPM_CONFIG_REGISTRY
fi

log() { printf '\033[1m[agorax]\033[0m %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() {  # name port seconds
  local waited=0
  until port_open "$2"; do
    if [ "$waited" -ge "$3" ]; then log "$1 did not come up on port $2"; return 1; fi
    sleep 1; waited=$((waited + 1))
  done
}

ensure_services() {
  if ! port_open 5432; then
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
    wait_for_port PostgreSQL 5432 60
  fi
  if ! port_open 6379; then
    log "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
    wait_for_port Redis 6379 30
  fi
  if ! port_open 5672; then
    log "starting RabbitMQ"
    rabbitmq-server -detached
    wait_for_port RabbitMQ 5672 120
  fi
}

ensure_python_deps() {
  # `python3 -m uv` works right after the install, whatever PATH or pyenv shims say.
  if ! python3 -m uv --version >/dev/null 2>&1; then
    log "installing uv"
    python3 -m pip install --quiet "uv==0.13.8"
  fi
  log "installing Python dependencies from uv.lock"
  (cd "$AGORAX_ROOT" && python3 -m uv sync --frozen --quiet)
}

ensure_bun() {
  if ! command -v bun >/dev/null 2>&1; then
    log "installing bun"
    npm install --global --silent bun
  fi
}

ensure_chromium() {
  if [ ! -x /usr/bin/chromium ]; then
    log "installing Chromium (Debian package)"
    apt-get -o DPkg::Lock::Timeout=300 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq chromium >/dev/null
  fi
}

ensure_secret_key() {
  # A random token-signing key for this machine, kept in .env (never committed), unless one is set.
  if [ -z "${SECRET_KEY:-}" ] && ! grep -qE '^SECRET_KEY=.{32,}' "$AGORAX_ROOT/.env" 2>/dev/null; then
    python3 -c 'import secrets; print("SECRET_KEY=" + secrets.token_urlsafe(48))' >> "$AGORAX_ROOT/.env"
    log "wrote a new random SECRET_KEY to .env"
  fi
}
