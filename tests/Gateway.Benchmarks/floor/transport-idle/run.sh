#!/usr/bin/env bash
# run.sh [connections] [rounds]: the transport floor, each transport in turn (Program.cs says what each is).
set -euo pipefail
cd "$(dirname "$0")"
N=${1:-15000}; ROUNDS=${2:-2}; PORT=47123
dotnet build -c Release -o /tmp/transport-idle >/dev/null
for round in $(seq 1 "$ROUNDS"); do
  for transport in kestrel sockets kestrel-sockets; do
    dotnet /tmp/transport-idle/transport-idle.dll server "$transport" "$PORT" "$N" > /tmp/transport-idle/server.out &
    server=$!
    until grep -q ready /tmp/transport-idle/server.out 2>/dev/null; do sleep 0.1; done
    dotnet /tmp/transport-idle/transport-idle.dll client "$PORT" "$N" > /dev/null &
    client=$!
    wait "$server"
    kill "$client"; wait "$client" 2>/dev/null || true
    tail -1 /tmp/transport-idle/server.out
  done
done
