#!/usr/bin/env bash
# Our RFC 6455 layer against the BCL's WebSocket.CreateFromStream on the lean path (issue 10,
# "the library question"). Applies bcl-websocket.patch to a scratch copy of the commit it was made
# against (its "# base:" line; the product code is untouched) and builds it; measures managed bytes per
# idle socket of each engine in process (engine-memory); then runs each gateway scenario with both
# engines of that one build, alternating (gateway, bcl) ROUNDS times, logging the load before every run.
#
#   tests/Gateway.Benchmarks/variants/compare-bcl-websocket.sh [OUT_DIR]
#   ROUNDS=3  SCENARIOS="idle fanout10k fanout1k"  SCRATCH=DIR (reuse a patched, built copy)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
out="${1:-/tmp/bcl-websocket-$(date -u +%Y%m%d-%H%M%S)}"
rounds="${ROUNDS:-3}"
scenarios="${SCENARIOS:-idle fanout10k fanout1k}"
scratch="${SCRATCH:-$out/scratch}"
base="$(sed -n 's/^# base: //p' "$here/bcl-websocket.patch")"
mkdir -p "$out"

if [[ ! -f "$scratch/.patched" ]]; then
  rm -rf "$scratch" && mkdir -p "$scratch"
  git -C "$root" archive "$base" | tar -x -C "$scratch"
  (cd "$scratch" && git apply "$here/bcl-websocket.patch" && touch .patched)
fi

gateway_dll="$scratch/src/Gateway/bin/Release/net10.0/Gateway.dll"
scratch_bench="$scratch/tests/Gateway.Benchmarks/bin/Release/net10.0/Gateway.Benchmarks.dll"
[[ -f "$scratch_bench" && -f "$gateway_dll" ]] || dotnet build -c Release -nologo -v:q "$scratch/tests/Gateway.Benchmarks"
bench="$root/tests/Gateway.Benchmarks/bin/Release/net10.0/Gateway.Benchmarks.dll"
[[ -f "$bench" ]] || dotnet build -c Release -nologo -v:q "$root/tests/Gateway.Benchmarks"

dotnet "$scratch_bench" engine-memory --sockets 20000 --repeat 3 > "$out/engine-memory.txt" 2>&1

args_for() {
  case "$1" in
    idle) echo "idle --connections 15000 --hold-seconds 10" ;;
    fanout10k) echo "fanout --connections 10000 --concurrency 16 --half false" ;;
    fanout1k) echo "fanout --connections 1000 --concurrency 4 --half false" ;;
  esac
}

for round in $(seq 1 "$rounds"); do
  for scenario in $scenarios; do
    for engine in gateway bcl; do
      tag="$scenario-$engine-$round"
      echo "$(date -u +%H:%M:%S) $tag load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/load.txt" >&2
      # shellcheck disable=SC2046
      dotnet "$bench" $(args_for "$scenario") --gateway-dll "$gateway_dll" \
        --gateway-env "Gateway__Edge__WebSocketEngine=$engine" --log-dir "$out/logs-$tag" \
        > "$out/$tag.json" 2> "$out/$tag.err" || echo "$tag failed: see $out/$tag.err" >&2
    done
  done
done
tail -1 "$out/engine-memory.txt"
python3 "$here/summarize-bcl-websocket.py" "$out"
