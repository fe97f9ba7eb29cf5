using Gateway.Admin;
using Gateway.Dialects.Tapr;
using Gateway.Hosting;

var builder = WebApplication.CreateSlimBuilder(args);
builder.WebHost.UseKestrelHttpsConfiguration();
builder.AddGateway();

var app = builder.Build();
app.StartGatewayRuntime();
app.MapHealth();
app.MapTapr();
app.MapAdmin();
app.Run();

/// <summary>The entry point, visible to tests that host the gateway in-process.</summary>
public partial class Program;
