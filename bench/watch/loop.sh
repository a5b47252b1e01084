#!/usr/bin/env bash
# The seeds' way to watch Cortex: a shell loop running the trigger checks with sqlite3 and
# curl every $EVERY seconds (DB, API from the environment). Same checks as scripts/triggers.rhai
# except the systemd restart count (the benchmark's service is a plain process).
while sleep "$EVERY"; do
    now=$(date +%s)
    storm=$(sqlite3 "$DB" "SELECT count(*) FROM health_events WHERE kind = 'gateway_critical' AND created_at >= $now - 900")
    rate=$(sqlite3 "$DB" "SELECT CASE WHEN count(*) = 0 THEN 0 ELSE sum(status = 'failed') * 100 / count(*) END FROM dispatches WHERE started_at >= $now - 3600")
    integrity=$(sqlite3 "$DB" "PRAGMA integrity_check")
    health=$(curl -s -o /dev/null -m 3 -w '%{http_code} %{time_total}' "$API/health" || echo "000 0")
    disk=$(df --output=pcent "$DB" | tail -1 | tr -dc '0-9')
    mem=$(awk '/MemTotal/ {t=$2} /MemAvailable/ {a=$2} END {print int((t-a)*100/t)}' /proc/meminfo)
    priority=none
    if [ "$storm" -ge 3 ] || [ "$rate" -gt 50 ] || [ "$integrity" != ok ] || [ "${health%% *}" != 200 ]; then
        priority=P0
    elif [ "$rate" -gt 10 ] || [ "$disk" -ge 100 ] || [ "$mem" -ge 100 ]; then
        priority=P1
    fi
    [ "$priority" = none ] || echo "$(date -u +%FT%TZ) $priority storm=$storm rate=$rate integrity=$integrity health=$health"
done
