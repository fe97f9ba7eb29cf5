using Gateway.Admin;
using Gateway.Dialects.Jac;
using Gateway.Dialects.Tapr;
using Gateway.Hosting;
using Microsoft.Extensions.Options;

try
{
    // Before anything creates a socket: the runtime reads this once, at the first one.
    InlineSocketCompletions.PreferInline();

    // appsettings.json is found next to the binary, wherever the process is started from.
    var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
    builder.WebHost.UseKestrelHttpsConfiguration();
    builder.AddGateway();

    var app = builder.Build();
    app.MapHealth();
    app.MapTapr();
    app.MapJac();
    app.MapAdmin();
    app.Run();

    // 0, or what the run set: 3 for a node the cluster downed (GatewayLifetime), so that it is restarted.
    return Environment.ExitCode;
}
catch (OptionsValidationException invalid)
{
    // A setting out of its range (docs/configuration.md, "Checked at start"): which ones, not a stack trace.
    Console.Error.WriteLine($"The gateway's configuration is invalid: {string.Join("; ", invalid.Failures)}");
    return 2;
}

/// <summary>The entry point, visible to tests that host the gateway in-process.</summary>
public partial class Program;
