#!/usr/bin/env bash
# Runs benchmark scenarios against two builds of the gateway, alternately ("other": the tree given, then "this":
# this checkout) ROUNDS times, with this checkout's benchmark tool, printing the load average before each run and
# each run's JSON line. Used for issue 10's comparison of our RFC 6455 layer with the complete switch to the BCL's
# WebSocket (docs/performance.md):
#   git worktree add /tmp/bcl-gw 66f8c57 && cd /tmp/bcl-gw \
#     && git apply <this checkout>/tests/Gateway.Benchmarks/variants/bcl-websocket-complete.patch \
#     && dotnet build src/Gateway -c Release
#   dotnet build Gateway.sln -c Release     # in this checkout
#   ROUNDS=3 tests/Gateway.Benchmarks/variants/compare-builds.sh /tmp/bcl-gw fanout1klong fanout10k
# Scenarios: idle, fanout10k, fanout1k, fanout1klong, echo (the commands are in the case below).
set -euo pipefail
cd "$(dirname "$0")/../../.."
OTHER_TREE=$1
shift
B=tests/Gateway.Benchmarks/bin/Release/net10.0/Gateway.Benchmarks.dll
OTHER=$OTHER_TREE/src/Gateway/bin/Release/net10.0/Gateway.dll
THIS=$PWD/src/Gateway/bin/Release/net10.0/Gateway.dll
for round in $(seq 1 "${ROUNDS:-2}"); do
  for scenario in "$@"; do
    for which in other this; do
      dll=$OTHER; [ "$which" = this ] && dll=$THIS
      case $scenario in
        idle) args="idle --connections 15000 --hold-seconds 10";;
        fanout10k) args="fanout --connections 10000 --concurrency 16 --half false";;
        fanout1k) args="fanout --connections 1000 --concurrency 4 --half false";;
        fanout1klong) args="fanout --connections 1000 --concurrency 4 --half false --messages 2000";;
        echo) args="echo --messages 100 --phase-timeout 300";;
        *) echo "unknown scenario $scenario" >&2; exit 2;;
      esac
      echo "### round=$round scenario=$scenario build=$which load=$(cut -d' ' -f1 /proc/loadavg) $(date +%T)"
      # shellcheck disable=SC2086
      dotnet "$B" $args --gateway-dll "$dll" 2>&1 | grep -E '^\{' | tail -1 || echo '(no result line)'
    done
  done
done
