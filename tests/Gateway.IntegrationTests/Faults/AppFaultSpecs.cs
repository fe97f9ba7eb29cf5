using System.Collections.Concurrent;
using System.Globalization;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Faults;

/// <summary>
/// PROTOCOL.md §2 reliability against a faulty app: an app that is down, answers 5xx, is slow or
/// refuses (4xx). Per connection the app sees open, the messages in order, then one close, and nothing
/// is lost; only an attempt the gateway gave up on (a timeout) may be seen again.
/// </summary>
public sealed class AppFaultSpecs(FaultsGatewayFixture fixture, ITestOutputHelper output)
    : GatewaySpec(fixture.Host, output), IClassFixture<FaultsGatewayFixture>
{
    [Fact]
    public async Task An_app_that_is_down_and_comes_back_receives_every_event_in_order()
    {
        const int Messages = 20;
        var users = Enumerable.Range(0, 3).Select(i => UniqueUser("down" + i)).ToList();
        await App.StopAsync();
        try
        {
            var clients = new List<WsClient>();
            foreach (var user in users)
            {
                clients.Add(await ConnectAsync(user, cookie: "auth_token=" + user));
            }

            await Task.WhenAll(clients.Select((client, c) => SendFramesThenCloseAsync(client, users[c], Messages)));

            // The app stays down for a few seconds: until the gateway has retried ten times.
            await Gateway.Output.WaitForAsync(l => l.Contains("(attempt 10)", StringComparison.Ordinal), TestTimeouts.Long, "a tenth callback attempt");
            Assert.DoesNotContain(App.Requests, r => users.Contains(r.UserName!));
        }
        finally
        {
            await App.StartAsync();
        }

        await App.WaitUntilAsync(
            records => users.All(u => CallbackAttempts.FirstDeliveries(records.Where(r => r.UserName == u), Describe).Count == Messages + 2),
            TestTimeouts.Long,
            "every event of every connection");
        foreach (var user in users)
        {
            var callbacks = App.Requests.Where(r => r.UserName == user).ToList();

            // Refused connections never reached the app: each event arrived exactly once, in order.
            Assert.Equal(Expected(user, Messages), callbacks.Select(Describe));
            Assert.All(callbacks, c => Assert.True(c.Delivered, $"not delivered: {c}"));
            Assert.Single(callbacks.Select(c => c.ConnId).Distinct());
            Assert.All(callbacks, c => Assert.Equal("auth_token=" + user, c.Cookie));
        }
    }

    [Fact]
    public async Task An_app_answering_500_for_a_while_gets_every_event_once_in_order_after_retries()
    {
        const int Messages = 10;
        var users = Enumerable.Range(0, 2).Select(i => UniqueUser("err" + i)).ToList();
        App.StatusCode = 500;
        try
        {
            var clients = new List<WsClient>();
            foreach (var user in users)
            {
                clients.Add(await ConnectAsync(user));
            }

            await Task.WhenAll(clients.Select((client, c) => SendFramesThenCloseAsync(client, users[c], Messages)));
            await App.WaitUntilAsync(
                records => users.All(u => records.Count(r => r.UserName == u && r.Status == 500 && r.Answered) >= 4),
                TestTimeouts.Long,
                "four 500 answers per connection");
        }
        finally
        {
            App.StatusCode = 200;
        }

        await App.WaitUntilAsync(
            records => users.All(u => CallbackAttempts.FirstDeliveries(records.Where(r => r.UserName == u), Describe).Count == Messages + 2),
            TestTimeouts.Long,
            "every event of every connection");
        foreach (var user in users)
        {
            var callbacks = App.Requests.Where(r => r.UserName == user).ToList();
            var failed = callbacks.Where(c => c.Status == 500).ToList();
            var delivered = callbacks.Where(c => c.Delivered).ToList();

            // A 500 is an answer, not a timeout: each event is delivered exactly once, in order.
            Assert.Equal(Expected(user, Messages), delivered.Select(Describe));
            Assert.True(failed.Count >= 4, $"{failed.Count} attempts answered 500");
            Assert.All(failed, f => Assert.Contains(delivered, d => d.BodyText == f.BodyText));

            // No event was sent before the one ahead of it was delivered.
            Assert.Equal(Expected(user, Messages), callbacks.Select(Describe).Distinct());
        }
    }

    [Fact]
    public async Task A_callback_slower_than_the_timeout_is_retried_and_the_order_is_kept()
    {
        var timeout = FaultsGatewayFixture.ShortTimeout;
        var host = await StartOwnGatewayAsync(o => FaultsGatewayFixture.Configure(o, timeout), "gateway with a 1 s callback timeout");
        var user = UniqueUser("slow");
        var attempts = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var slow = Frame(user, 1);
        host.App.Responder = request => request.DataJson == slow && attempts.AddOrUpdate(slow, 1, (_, n) => n + 1) == 1
            ? new AppReply(200, Delay: timeout * 3)
            : null;
        var (client, open) = await ConnectAndOpenAsync(user, host: host);
        await SendFramesThenCloseAsync(client, user, 4);
        await host.App.WaitForActionAsync(open.ConnId!, "close", TestTimeouts.Long);

        var callbacks = host.App.Requests.Where(r => r.UserName == user).ToList();
        var slowAttempts = callbacks.Where(c => c.DataJson == slow).ToList();
        Assert.True(slowAttempts.Count >= 2, $"{slowAttempts.Count} attempts of the slow message");
        Assert.False(slowAttempts[0].Answered, "the gateway gave up on the first attempt");
        Assert.True(slowAttempts[^1].Delivered);
        var gap = slowAttempts[1].ReceivedAt - slowAttempts[0].ReceivedAt;
        Assert.True(gap >= timeout * 0.9, $"retried after {gap}, before the {timeout} timeout");

        // Only timed-out attempts are seen again (on a stalled machine another one may time out too); the order of
        // first deliveries is the client's.
        Assert.Equal(Expected(user, 4), CallbackAttempts.FirstDeliveries(callbacks, Describe));
        CallbackAttempts.AssertOnlyTimedOutAttemptsRepeat(callbacks, Describe);
    }

    [Fact]
    public async Task A_callback_slower_than_usual_but_within_the_timeout_is_not_retried()
    {
        var user = UniqueUser("sluggish");
        App.Delay = FaultsGatewayFixture.CallbackTimeout / 20;
        try
        {
            var (client, open) = await ConnectAndOpenAsync(user);
            await SendFramesThenCloseAsync(client, user, 3);
            await App.WaitForActionAsync(open.ConnId!, "close", TestTimeouts.Long);
        }
        finally
        {
            App.Delay = TimeSpan.Zero;
        }

        var callbacks = App.Requests.Where(r => r.UserName == user).ToList();
        Assert.Equal(Expected(user, 3), callbacks.Select(Describe));
        Assert.All(callbacks, c => Assert.True(c.Delivered, $"not delivered: {c}"));
    }

    [Fact]
    public async Task A_4xx_answer_is_final_the_event_is_not_retried_and_the_socket_stays_open()
    {
        var user = UniqueUser("refused");
        var refused = new Dictionary<string, int>(StringComparer.Ordinal) { [Frame(user, 1)] = 400, [Frame(user, 2)] = 422 };
        App.Responder = request => request.DataJson is { } data && refused.TryGetValue(data, out var status) ? new AppReply(status) : null;
        try
        {
            var (client, open) = await ConnectAndOpenAsync(user);
            for (var i = 0; i < 4; i++)
            {
                await client.SendTextAsync(Frame(user, i));
            }

            // The app's status never closes a socket.
            await App.WaitForAsync(r => r.DataJson == Frame(user, 3) && r.Delivered);
            await client.SendTextAsync("{\"event\":\"ping\"}");
            Assert.Equal("{\"event\":\"pong\"}", await client.ReceiveTextAsync());
            Assert.Null(client.CloseIfEnded);

            await client.CloseAsync();
            await App.WaitForActionAsync(open.ConnId!, "close");
        }
        finally
        {
            App.Responder = null;
        }

        // The close is the connection's last event and comes only after every earlier one is done
        // with, so had a refused event been retried, the retry would be here.
        var callbacks = App.Requests.Where(r => r.UserName == user).ToList();
        Assert.Equal(Expected(user, 4), callbacks.Select(Describe));
        Assert.Equal([200, 200, 400, 422, 200, 200], callbacks.Select(c => c.Status));
    }

    [Fact]
    public async Task A_connection_whose_callback_is_held_does_not_hold_up_other_connections()
    {
        const int Others = 4;
        const int Messages = 10;
        var held = UniqueUser("held");
        var heldFrame = Frame(held, 0);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var host = await StartOwnGatewayAsync(o => FaultsGatewayFixture.Configure(o, FaultsGatewayFixture.ShortTimeout), "gateway with a 1 s callback timeout");

        // Every attempt of the held message outlasts the gateway's timeout until released.
        host.App.Responder = request => request.DataJson == heldFrame && !release.Task.IsCompleted ? new AppReply(200, Delay: TimeSpan.FromSeconds(30)) : null;
        try
        {
            var (heldClient, heldOpen) = await ConnectAndOpenAsync(held, host: host);
            await heldClient.SendTextAsync(heldFrame);
            await heldClient.SendTextAsync(Frame(held, 1));
            await host.App.WaitForAsync(r => r.DataJson == heldFrame);

            var others = Enumerable.Range(0, Others).Select(i => UniqueUser("free" + i)).ToList();
            await Task.WhenAll(others.Select(async user =>
            {
                var client = await ConnectAsync(user, host: host);
                await SendFramesThenCloseAsync(client, user, Messages);
            }));
            await host.App.WaitUntilAsync(
                records => others.All(u => CallbackAttempts.FirstDeliveries(records.Where(r => r.UserName == u), Describe).Count == Messages + 2),
                TestTimeouts.Long,
                "every event of the other connections");

            // Meanwhile the held connection is still at its first message, and nothing after it was sent.
            var heldSoFar = host.App.ForConnection(heldOpen.ConnId!);
            Assert.DoesNotContain(heldSoFar, r => r.DataJson == heldFrame && r.Delivered);
            Assert.DoesNotContain(heldSoFar, r => r.DataJson == Frame(held, 1));
            foreach (var user in others)
            {
                var theirs = host.App.Requests.Where(r => r.UserName == user).ToList();
                Assert.Equal(Expected(user, Messages), CallbackAttempts.FirstDeliveries(theirs, Describe));
                CallbackAttempts.AssertOnlyTimedOutAttemptsRepeat(theirs, Describe);
            }

            release.SetResult();
            await heldClient.CloseAsync();
            await host.App.WaitForActionAsync(heldOpen.ConnId!, "close", TestTimeouts.Long);
            var heldCallbacks = host.App.ForConnection(heldOpen.ConnId!);
            Assert.Equal(Expected(held, 2), CallbackAttempts.FirstDeliveries(heldCallbacks, Describe));
            CallbackAttempts.AssertOnlyTimedOutAttemptsRepeat(heldCallbacks, Describe);
        }
        finally
        {
            release.TrySetResult();
        }
    }

    /// <summary>Sends <see cref="Frame"/> 0 to <paramref name="count"/> - 1 of <paramref name="user"/> in order, then starts the close handshake.</summary>
    private static async Task SendFramesThenCloseAsync(WsClient client, string user, int count)
    {
        for (var i = 0; i < count; i++)
        {
            await client.SendTextAsync(Frame(user, i));
        }

        await client.CloseAsync();
    }

    private static string Frame(string user, int n) =>
        string.Create(CultureInfo.InvariantCulture, $"{{\"event\":\"seq\",\"user\":\"{user}\",\"n\":{n}}}");

    private static List<string> Expected(string user, int messages) =>
        ["open", .. Enumerable.Range(0, messages).Select(i => "message " + Frame(user, i)), "close"];

    private static string Describe(RecordedCallback callback) => callback.Action == "message" ? "message " + callback.DataJson : callback.Action!;
}
