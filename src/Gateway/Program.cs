using Gateway.Admin;
using Gateway.Dialects.Jac;
using Gateway.Dialects.Tapr;
using Gateway.Hosting;

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

/// <summary>The entry point, visible to tests that host the gateway in-process.</summary>
public partial class Program;
