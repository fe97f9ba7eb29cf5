using System.Globalization;
using System.Net;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Cluster;

/// <summary>Issue 11, readiness: with clustering on, <c>/readyz</c> waits for this node to be <c>Up</c>; <c>/healthz</c> does not.</summary>
public sealed class ClusterReadinessSpecs(ITestOutputHelper output)
{
    [Fact]
    public async Task A_node_that_has_not_joined_is_alive_but_not_ready_and_admin_calls_still_answer_for_its_own_sockets()
    {
        // The only seed is a port nothing listens on: the node can never join.
        var seed = GatewayProcess.GetFreePort();
        await using var app = await AppServer.StartAsync();
        var options = new GatewayProcessOptions { CallbackUrl = app.CallbackUrl }
            .With("Cluster", "Enabled", "true")
            .With("Cluster", "Port", GatewayProcess.GetFreePort().ToString(CultureInfo.InvariantCulture));
        options.Environment["Gateway__Cluster__SeedNodes__0"] = string.Create(CultureInfo.InvariantCulture, $"akka.tcp://gateway@127.0.0.1:{seed}");
        await using var gateway = await GatewayProcess.StartAsync(options);
        try
        {
            using var health = await gateway.Http.GetAsync("/healthz");
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);

            // Not ready now, and not after a few failed join attempts either.
            var deadline = DateTime.UtcNow + TestTimeouts.Dilated(TimeSpan.FromSeconds(3));
            while (DateTime.UtcNow < deadline)
            {
                using var ready = await gateway.Http.GetAsync("/readyz");
                Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
                await Task.Delay(200);
            }

            await using var client = await WsClient.ConnectAsync(gateway.WebSocketUri(), "alone");
            await app.WaitForOpenAsync("alone");
            var send = await gateway.Admin.SendAsync("{\"users\":[\"alone\"],\"payload\":1}");
            Assert.Equal("{\"code\":0,\"data\":{\"matched\":1,\"enqueued\":1,\"dropped\":0},\"message\":\"success\"}", send.Text);
            Assert.Equal("1", await client.ReceiveTextAsync());
        }
        finally
        {
            gateway.DumpOutput(output);
        }
    }
}
