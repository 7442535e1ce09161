#!/usr/bin/env bash
# Scrape scale test: promlite and Prometheus 2.42 (Debian's /usr/bin/prometheus), one
# after the other, scrape the same 1000 loopback targets every second; each is measured
# over a steady 30 s window after a warm-up. Reports CPU seconds (utime+stime from
# /proc/<pid>/stat) per million samples scraped (the sum of scrape_samples_scraped over
# the window, asked of each server's own query API) and the ratio.
#
# Usage: benches/compare/scrape_scale.sh            (from the repository root)
# Env:   PROMLITE_BIN   promlite server binary      (target/release/promlite; build it with
#                                                    `cargo build --release -p promlite-cli`)
#        PROMETHEUS_BIN Prometheus binary           (/usr/bin/prometheus)
#        TARGETS=1000 SAMPLES=200 WARMUP=10 WINDOW=30 BASE_PORT=19100
#        ONLY=promlite|prometheus  run one server alone (comparing two promlite builds)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
PROMLITE_BIN=${PROMLITE_BIN:-$root/target/release/promlite}
PROMETHEUS_BIN=${PROMETHEUS_BIN:-/usr/bin/prometheus}
BODY=${BODY:-$root/../shared/conformance/exposition/real/node_exporter-1.5.prom}
TARGETS=${TARGETS:-1000}
SAMPLES=${SAMPLES:-200}
WARMUP=${WARMUP:-10}
WINDOW=${WINDOW:-30}
BASE_PORT=${BASE_PORT:-19100}
exporter_port=$BASE_PORT
web_port=$((BASE_PORT + 1))

for b in "$PROMLITE_BIN" "$PROMETHEUS_BIN"; do
    [ -x "$b" ] || { echo "missing binary: $b" >&2; exit 1; }
done
[ -r "$BODY" ] || { echo "missing exposition body: $BODY" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

python3 "$here/exporter.py" "$exporter_port" "$BODY" "$SAMPLES" >"$work/exporter.log" 2>&1 &
pids+=($!)

# One job, one target group per target: all on the exporter's port, told apart by their
# path and their `instance` label.
{
    echo "global: {scrape_interval: 1s, scrape_timeout: 1s}"
    echo "scrape_configs:"
    echo "- job_name: scale"
    echo "  static_configs:"
    for i in $(seq 0 $((TARGETS - 1))); do
        echo "  - {targets: ['127.0.0.1:$exporter_port'], labels: {__metrics_path__: /metrics/$i, instance: 't$i'}}"
    done
} >"$work/scale.yml"

wait_http() {
    for _ in $(seq 1 200); do
        curl -fs -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "no answer from $1" >&2
    return 1
}
wait_http "http://127.0.0.1:$exporter_port/metrics/0"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
query() {
    curl -fsG "http://127.0.0.1:$web_port/api/v1/query" --data-urlencode "query=$1" \
        --data-urlencode "time=$2" |
        jq -r '.data.result[0].value[1] // "0"'
}

hz=$(getconf CLK_TCK)
declare -A cpu samples rss per_million

run() {
    local name=$1 bin=$2
    local data="$work/data-$name"
    mkdir -p "$data"
    "$bin" --config.file="$work/scale.yml" --storage.tsdb.path="$data" \
        --web.listen-address="127.0.0.1:$web_port" >"$work/$name.log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    wait_http "http://127.0.0.1:$web_port/api/v1/query?query=1"
    sleep "$WARMUP"
    local c0 c1 t1
    c0=$(cpu_ticks "$pid")
    sleep "$WINDOW"
    c1=$(cpu_ticks "$pid")
    t1=$(date +%s)
    rss[$name]=$(rss_kib "$pid")
    cpu[$name]=$(echo "scale=3; ($c1 - $c0) / $hz" | bc)
    samples[$name]=$(query "sum(sum_over_time(scrape_samples_scraped{job=\"scale\"}[${WINDOW}s]))" "$t1")
    per_million[$name]=$(echo "scale=4; ${cpu[$name]} * 1000000 / ${samples[$name]}" | bc)
    local up
    up=$(query "sum(up{job=\"scale\"})" "$t1")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    printf '%-10s cpu %7.2f s  samples %10.0f  up %5s/%s  rss %6d MiB  cpu s per 1M samples %6.2f\n' \
        "$name" "${cpu[$name]}" "${samples[$name]}" "$up" "$TARGETS" $((rss[$name] / 1024)) \
        "${per_million[$name]}"
}

echo "$TARGETS targets x $SAMPLES samples, 1 s interval, ${WARMUP}s warm-up, ${WINDOW}s window; $(nproc) cores"
ONLY=${ONLY:-}
[ "$ONLY" = prometheus ] || run promlite "$PROMLITE_BIN"
[ "$ONLY" = promlite ] || run prometheus "$PROMETHEUS_BIN"
[ -n "$ONLY" ] && exit 0
echo "promlite / prometheus CPU per sample: $(echo "scale=3; ${per_million[promlite]} / ${per_million[prometheus]}" | bc)"
