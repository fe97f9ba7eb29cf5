#!/usr/bin/env python3
"""Medians per scenario and engine from compare-bcl-websocket.sh's output directory, with each run's load."""
import json
import os
import statistics
import sys

out = sys.argv[1]
loads = {}
for line in open(os.path.join(out, "load.txt")):
    parts = line.split()
    loads[parts[1]] = " ".join(parts[3:])


def figures(scenario, report):
    if scenario == "idle":
        memory, cpu = report["gatewayMemory"], report["cpuCores"]
        return {
            "rss/conn connected B": memory["rssPerConnectionConnectedBytes"],
            "rss/conn after hold B": memory["rssPerConnectionBytes"],
            "heap/conn B": memory["heapPerConnectionBytes"],
            "connect cpu us/conn": cpu["gatewayConnectCpuMicrosecondsPerConnection"],
            "connects/s": report["connect"]["connectionsPerSec"],
            "held": report["held"]["open"],
        }
    full = report["fullSpeed"]
    return {
        "delivered/s": full["deliveredPerSec"],
        "p99 ms": full["latency"]["p99Ms"],
        "gateway cores": full["cpuCores"]["gateway"],
        # Under CPU contention delivered/s follows the CPU share the gateway gets; per core-second it does not.
        "delivered per gateway core-s": round(full["deliveredPerSec"] / max(full["cpuCores"]["gateway"], 1e-9)),
        "exactly once": full["exactlyOnce"]["ok"],
    }


rows = {}
for name in sorted(os.listdir(out)):
    if not name.endswith(".json") or name.startswith("engine-memory"):
        continue
    tag = name[:-5]
    scenario, engine, run = tag.rsplit("-", 2)
    text = open(os.path.join(out, name)).read().strip()
    if not text:
        print(f"{tag}: no report (load {loads.get(tag, '?')})")
        continue
    values = figures(scenario, json.loads(text.splitlines()[-1]))
    print(f"{tag:22} load {loads.get(tag, '?'):16} {values}")
    rows.setdefault((scenario, engine), []).append(values)

print()
for (scenario, engine), runs in sorted(rows.items()):
    medians = {}
    for key in runs[0]:
        numbers = [r[key] for r in runs if isinstance(r[key], (int, float)) and not isinstance(r[key], bool)]
        medians[key] = statistics.median(numbers) if numbers else all(r[key] for r in runs)
    print(f"median {scenario:10} {engine:8} n={len(runs)} {medians}")
