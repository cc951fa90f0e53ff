#!/usr/bin/env bash
# The rekey demo: bring up the bundled example stack (a web app, a worker, PostgreSQL and Redis), commit
# a new session key to its desired-state repository, and let rekey rotate it: stage the new key with the
# old one as fallback, roll app then worker with health gates and checks, drop the old key, verify. Then
# rotate the database and Redis passwords: each server accepts the old and the new one while the app
# moves over, and the old one is revoked once the app verified the new one. Caddy stands in front of the
# app (the only published port), so the app rolls start-first: a load counter through Caddy stays at
# 0 failures through the session-key rotation. Caddy's /admin/* basic-auth users file is a bcrypt line
# rekey derives from the admin-password secret.
#
#   scripts/demo.sh            run the demo and tear the stack down at the end
#   KEEP=1 scripts/demo.sh     leave the stack and the work directory for a look around
#
# Runs as root on Debian 12 (it installs docker.io and builds the Compose plugin if missing).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then bold=$'\e[1m'; off=$'\e[0m'; else bold=; off=; fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$off"; }
run() { printf '%s$ %s%s\n' "$bold" "$*" "$off"; "$@"; }

step "Preparing Docker, the Compose plugin and the demo images (skipped when already there)"
scripts/setup.sh
scripts/build-images.sh

work=$(mktemp -d /tmp/rekey-demo.XXXXXX)
project="rekey-demo-$(basename "$work" | cut -d. -f2 | tr 'A-Z' 'a-z')"
port=${APP_PORT:-18080}
key="$root/examples/demo/demo-age-key.txt"   # DEMO ONLY: a public throwaway key
rekey="$work/bin/rekey"
cleanup() {
  if [[ -n "${KEEP:-}" ]]; then
    printf '\nKept: stack %s in %s (docker compose -p %s down -v when done)\n' "$project" "$work/stack" "$project"
    return
  fi
  docker compose -p "$project" --project-directory "$work/stack" down -v -t 1 >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

step "Building rekey"
go build -o "$rekey" ./cmd/rekey
"$rekey" version

step "Copying the example stack and its desired-state repository to $work"
cp -a examples/demo/stack "$work/stack"
chmod 600 "$work/stack/.env" "$work/stack/secrets/"* "$work/stack/caddy/users"
sed -i "s/^APP_PORT=.*/APP_PORT=$port/" "$work/stack/.env"
cp -a examples/demo/repo "$work/repo"
sed -i -e "s#__PROJECT_DIR__#$work/stack#" -e "s#__PROJECT_NAME__#$project#" -e "s#__APP_PORT__#$port#" "$work/repo/rekey.yaml"
git_() { git -C "$work/repo" -c user.name="Demo Operator" -c user.email=ops@example.invalid "$@"; }
git_ init -q -b main
git_ add -A
git_ commit -q -m "Desired state of the demo stack"

step "Starting the stack"
docker compose -p "$project" --project-directory "$work/stack" up -d --wait

fingerprints() {
  echo "  app    reports: $(docker compose -p "$project" --project-directory "$work/stack" exec -T app /demoapp probe http://127.0.0.1:8080/fingerprint)"
  echo "  worker reports: $(docker compose -p "$project" --project-directory "$work/stack" exec -T worker /demoapp probe http://127.0.0.1:8081/fingerprint)"
}
# admin: the status of /admin/ with a password; curl reads it from stdin, never from its argv.
admin() { printf 'user = "admin:%s"\n' "$1" | curl -s -o /dev/null -w '%{http_code}' --config - "http://127.0.0.1:$port/admin/healthz"; }
# load_start: requests through Caddy (GET /count: a counter in Redis and PostgreSQL), one every 20 ms,
# until load_stop; load_stop prints how many were served and how many failed.
load_start() {
  rm -f "$work/load.stop"
  (ok=0 failed=0
   while [[ ! -e "$work/load.stop" ]]; do
     if curl -fsS -o /dev/null --max-time 5 "http://127.0.0.1:$port/count" 2>/dev/null; then ok=$((ok + 1)); else failed=$((failed + 1)); fi
     echo "$ok $failed" >"$work/load.count"
     sleep 0.02
   done) &
  load_pid=$!
}
load_stop() {
  touch "$work/load.stop"; wait "$load_pid"
  read -r ok failed <"$work/load.count"
  echo "  load through Caddy: $ok requests served, $failed failed"
}
ids() { docker compose -p "$project" --project-directory "$work/stack" ps -q | sort | tr '\n' ' '; }
flags=(--repo "$work/repo" --state-dir "$work/state" --age-key-file "$key")

step "What the containers loaded (the demo app prints sha256 prefixes; rekey itself only shows HMAC fingerprints)"
fingerprints
run "$rekey" plan "${flags[@]}"

step "An operator generates a new session key and commits it (this is the whole rotation request)"
run "$rekey" values set --repo "$work/repo" --age-key-file "$key" --generate 32 session-key
git_ commit -q -am "Rotate the session key"
git_ log --oneline -n 2

step "rekey plan: the consumers, their order, every step, values shown only as fingerprints"
run "$rekey" plan "${flags[@]}"

step "rekey apply, under load through Caddy (the app rolls start-first: plan says why)"
load_start
run "$rekey" apply "${flags[@]}"
load_stop

step "What the containers loaded now"
fingerprints

step "Compose agrees: docker compose up -d finds nothing to recreate"
before=$(ids)
docker compose -p "$project" --project-directory "$work/stack" up -d --wait 2>&1 | tail -n 3
after=$(ids)
if [[ "$before" == "$after" ]]; then echo "  same containers before and after: nothing recreated"; else echo "  containers changed!"; exit 1; fi

step "Database and Redis passwords: the servers accept old and new while the app moves over"
echo "  app runs as: $(docker compose -p "$project" --project-directory "$work/stack" exec -T app /demoapp probe http://127.0.0.1:8080/fingerprint | grep -o '"db_user":"[a-z_]*"')"
run "$rekey" values set --repo "$work/repo" --age-key-file "$key" --generate 32 db-password
run "$rekey" values set --repo "$work/repo" --age-key-file "$key" --generate 32 redis-password
git_ commit -q -am "Rotate the database and Redis passwords"
run "$rekey" apply "${flags[@]}"
echo "  app runs as: $(docker compose -p "$project" --project-directory "$work/stack" exec -T app /demoapp probe http://127.0.0.1:8080/fingerprint | grep -o '"db_user":"[a-z_]*"')"
echo "  failed logins PostgreSQL logged: $(docker compose -p "$project" --project-directory "$work/stack" logs db | grep -c 'password authentication failed' || true)"

step "The admin password: Caddy's users file is a bcrypt line rekey renders (a derived location)"
old_admin=demo-only-admin-password-7a3f9c21 new_admin="demo-admin-$(date +%s)"
echo "  /admin/ with the old password: $(admin "$old_admin")"
printf '%s' "$new_admin" | run "$rekey" values set --repo "$work/repo" --age-key-file "$key" admin-password
git_ commit -q -am "Rotate the admin password"
run "$rekey" apply "${flags[@]}"
echo "  /admin/ with the old password: $(admin "$old_admin"), with the new one: $(admin "$new_admin")"

step "rekey status"
run "$rekey" status "${flags[@]}"
