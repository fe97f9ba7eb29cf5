using System.Runtime.InteropServices;
using Gateway.Benchmarks;
using Gateway.Benchmarks.App;
using Gateway.Benchmarks.Client;
using Gateway.Benchmarks.Orchestration;
using Gateway.Benchmarks.Scenarios;

// dotnet run -c Release --project tests/Gateway.Benchmarks -- <scenario> [options]
// Each run prints one JSON line per figure (akka) or per run (the gateway scenarios) on stdout;
// progress goes to stderr. `app` and `client` are the modes the orchestrator starts itself in.
var scenario = args.Length > 0 ? args[0] : "help";
var options = BenchmarkOptions.Parse(args.Skip(1));

// On Ctrl+C, SIGTERM or SIGHUP the process ends without unwinding: stop the gateways first.
using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => GatewayServer.KillAll());
using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => GatewayServer.KillAll());
using var onHangUp = PosixSignalRegistration.Create(PosixSignal.SIGHUP, _ => GatewayServer.KillAll());
AppDomain.CurrentDomain.ProcessExit += (_, _) => GatewayServer.KillAll();

try
{
    return scenario switch
    {
        "akka" => await AkkaBenchmark.RunAsync(options),
        "idle" => await IdleScenario.RunAsync(options),
        "fanout" => await FanoutScenario.RunAsync(options),
        "cluster" => await FanoutScenario.RunAsync(options, "cluster", defaultNodes: 3),
        "echo" => await EchoScenario.RunAsync(options),
        "slow" => await SlowScenario.RunAsync(options),
        "socket-memory" => await SocketMemoryScenario.RunAsync(options),
        "socket-send" => await SocketSendScenario.RunAsync(options),
        "app" => await CallbackApp.RunAsync(options),
        "client" => await ClientWorker.RunAsync(options),
        _ => Usage(),
    };
}
catch (Exception exception) when (exception is ArgumentException or InvalidOperationException or TimeoutException or IOException)
{
    Console.Error.WriteLine($"{scenario}: {exception.Message}");
    return 1;
}
catch (Exception exception) when (exception is not OutOfMemoryException)
{
    Console.Error.WriteLine($"{scenario}: {exception}");
    return 1;
}

static int Usage()
{
    Console.Error.WriteLine("""
        usage: dotnet run -c Release --project tests/Gateway.Benchmarks -- <scenario> [--key value ...]

          akka     reference figures of Akka.NET in-process: ping-pong over 64 pairs, fan-out to
                   10,000 actors, managed bytes and creation time per idle actor (100,000 actors)
                   with Akka's default props and mailbox and with the gateway's connection ones
                   options: --pairs 64 --inflight 100 --rounds 200000 --fanout-actors 10000
                            --fanout-messages 200 --idle-actors 100000 --repeat 3

        The gateway scenarios start the gateway's Release build (src/Gateway, built if missing or
        stale; with --gateway-publish, the publish the container image holds), an app answering its
        callbacks, and client processes, all on this machine, and print one JSON line: parameters,
        figures, CPU cores of every process, targets and met. parameters.gatewayBuild (idle, fanout,
        echo) names the build measured: the commit and the src/Gateway files modified against it
        when this tool built it, or {"recorded": false} for a build it did not make.

          idle     --connections 15000 --users 100 --hold-seconds 60 --ping-seconds 30
                   connect rate, handshake p50/p99, failures, gateway RSS and heap per connection,
                   pongs against pings
          fanout   --connections 10000 --users 100 --messages 200 --target all|users
                   --users-per-send 1 (with --target users: users named in each send)
                   --rate R (sends/s; default: full speed, then at half the top rate: --half false
                   to skip) --concurrency 16 (sends in flight) --payload-bytes 0 --warmup-messages 20
                   (the cold phase: its rate, CPU split and latency; it starts once the app heard every
                   open unless --cold-after-opens false)
                   delivered/s, latency, exactly-once per connection
          cluster  fanout with --nodes 3 (default) gateways in one cluster on loopback, client
                   processes spread over them, every send to node 1: delivered/s, latency,
                   exactly-once, peer messages per send (routed vs broadcast); compare with
                   fanout (the same load on one node). Use --client-processes 3 (or a multiple).
          echo     --connections 1000 --users 100 --messages 300 --window 8 --payload-bytes 0
                   round trips/s through the app and the admin API, latency, per-connection order
          slow     --connections 10000 --users 100 --messages 200 --share 0.1 --rate 10
                   --payload-bytes 1024 --queue-bytes 32768 --queue-messages 4096
                   --slow-rcvbuf 2048 --slow-mss 536 (so loopback's kernel buffers stay small)
                   --repeat 1 (baseline and slow runs alternated N times; medians compared)
                   a baseline without the slow share, then a run where it connects and never
                   reads: healthy p99 in both, slow clients closed with 4001, gateway peak RSS
          socket-memory  --sockets 20000 --repeat 3
                   in process, no gateway started: managed bytes per idle socket of the WebSocket
                   layer (WebSocketConnection) over in-memory pipes, minus the same pipes without
                   a socket
          socket-send  --sockets 1000 --messages 2000 --payload-bytes 20 --repeat 3
                   in process: CPU per message written by the WebSocket layer, one message to every
                   socket per round (as a broadcast), over in-memory pipes each drained by a reader

        Peers: --peer ws|bun|all (idle, fanout, echo; default: the gateway alone) runs the same scenario
                against the gateway, then against each named hand-written TAPR gateway (peers/: ws-gateway.js
                on Node with npm ws, bun-gateway.js on Bun's built-in server; their npm packages are
                installed with npm ci on first use), one after the other with the same options: one JSON
                line per run, then a comparison line with each headline figure and the ratio gateway/peer
                (idle: server CPU per connect, also until the app has heard every open, RSS per connection after
                the burst and after the hold, server cores over the hold once the app has heard every open;
                fanout: delivered/s, server CPU per delivery, cold rate of the warm-up sends and its ratio
                to the warm rate (--warmup-messages 100 --connections 1000 for the "first 100 broadcasts");
                echo: round trips/s, server CPU per round trip). Ratios of one command are what count.

        Common: --gateway-env Key=Value (repeatable, e.g. Gateway__Limits__OutboundQueueBytes=65536)
                --client-env Key=Value (repeatable; the load generator's client processes)
                --gateway-dll PATH --client-processes N (default: 2, or one per --per-process 5000)
                --gateway-publish (run the gateway as the container image ships it: `dotnet publish -r <rid>`,
                self-contained and composite ReadyToRun, made when missing or stale; default: the Release build)
                --source-addresses 8 (127.0.0.2...) --connect-concurrency 128 (per process)
                --connect-timeout 10 --ping-seconds 30 --warmup 32 (per client process) --phase-timeout 120
                --driver-warmup 300 (fanout, cluster, slow; 0: off: admin sends this tool makes to a stub in its
                own process before the first server starts, so no server's cold phase is the tool's first sends)
                --inline-completions true --log-dir DIR
        """);
    return 2;
}
