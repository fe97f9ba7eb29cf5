#!/usr/bin/env bash
# Our RFC 6455 layer against the BCL's WebSocket.CreateFromStream on the lean path (issue 10,
# "the library question"). Builds the gateway at BASE with bcl-websocket.patch applied in a scratch
# copy (the product code is untouched), then runs each scenario with both engines of that one build,
# alternating (gateway, bcl) ROUNDS times, with the load average logged before every run.
#
#   tests/Gateway.Benchmarks/variants/compare-bcl-websocket.sh [OUT_DIR]
#   ROUNDS=3 GATEWAY_DLL=/path/Gateway.dll (an already patched build; skips the scratch build)
#   SCENARIOS="idle fanout10k fanout1k"
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
out="${1:-/tmp/bcl-websocket-$(date -u +%Y%m%d-%H%M%S)}"
rounds="${ROUNDS:-3}"
scenarios="${SCENARIOS:-idle fanout10k fanout1k}"
base="$(sed -n 's/^# base: //p' "$here/bcl-websocket.patch")"
mkdir -p "$out"

if [[ -z "${GATEWAY_DLL:-}" ]]; then
  scratch="$out/scratch"
  rm -rf "$scratch" && mkdir -p "$scratch"
  git -C "$root" archive "$base" | tar -x -C "$scratch"
  (cd "$scratch" && git apply "$here/bcl-websocket.patch")
  dotnet build -c Release -nologo -v:q "$scratch/src/Gateway/Gateway.csproj"
  GATEWAY_DLL="$scratch/src/Gateway/bin/Release/net10.0/Gateway.dll"
fi

bench="$root/tests/Gateway.Benchmarks/bin/Release/net10.0/Gateway.Benchmarks.dll"
[[ -f "$bench" ]] || dotnet build -c Release -nologo -v:q "$root/tests/Gateway.Benchmarks"

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
      dotnet "$bench" $(args_for "$scenario") --gateway-dll "$GATEWAY_DLL" \
        --gateway-env "Gateway__Edge__WebSocketEngine=$engine" --log-dir "$out/logs-$tag" \
        > "$out/$tag.json" 2> "$out/$tag.err" || echo "$tag failed: see $out/$tag.err" >&2
    done
  done
done
python3 "$here/summarize-bcl-websocket.py" "$out"
