using Gateway.Benchmarks;

// dotnet run -c Release --project tests/Gateway.Benchmarks -- <scenario> [options]
// Each scenario prints one JSON line per figure on stdout; progress goes to stderr.
var scenario = args.Length > 0 ? args[0] : "help";
var options = BenchmarkOptions.Parse(args.Skip(1));

return scenario switch
{
    "kernel" => await KernelBenchmark.RunAsync(options),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("""
        usage: dotnet run -c Release --project tests/Gateway.Benchmarks -- <scenario> [--key value ...]

          kernel   actor-kernel figures: ping-pong over 64 pairs, fan-out to 10,000 actors,
                   managed bytes per idle actor (100,000 actors)
                   options: --pairs 64 --inflight 100 --rounds 200000 --fanout-actors 10000
                            --fanout-messages 200 --idle-actors 100000 --repeat 3
        """);
    return 2;
}
