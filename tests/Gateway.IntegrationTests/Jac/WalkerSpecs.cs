using System.Diagnostics;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Jac;

/// <summary>
/// PROTOCOL.md §5 walkers: forwarded to the app as a <c>message</c> callback carrying the whole event; with
/// <c>response: true</c> the app's JSON answer comes back as one frame, and a failed call gives
/// <c>{"type":"walker","error":"&lt;reason&gt;"}</c> (<c>Gateway:Jac:WalkerTimeout</c> bounds the wait).
/// </summary>
[Collection(JacWalkerCollection.Name)]
public sealed class WalkerSpecs(JacWalkerFixture fixture, ITestOutputHelper output) : JacSpec(fixture.Host, output)
{
    private const string Answer = "{\"status\":200, \"reports\":[{\"n\":123456789012345678901234567890,\"f\":1.50}], \"s\":\"caf\u00e9\"}";

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_walker_reaches_the_app_as_a_message_whose_data_is_the_whole_event_verbatim(bool authenticated)
    {
        var hex = JacTokens.NewRootHex();
        var token = authenticated ? JacTokens.ForRoot(hex) : null;
        var client = await ConnectJacAsync(token);
        const string walker = "{ \"type\" : \"walker\", \"walker\":\"create_todo\", \"node\":null, \"response\":false, \"context\":{\"z\":1,\"big\":123456789012345678901234567890,\"s\":\"caf\\u00e9\"} }";

        await client.SendAsync(walker);
        var message = await App.WaitForActionAsync(client.ClientId, "message");

        var root = authenticated ? JacWire.Root(hex) : PublicRoot;
        Assert.Equal(ExpectedCallback("message", root, client.ClientId, token ?? string.Empty, accessPublic: !authenticated, data: walker), message.BodyText);
    }

    [Theory]
    [InlineData(Answer)]
    [InlineData("[1,{\"a\":2}]")]
    [InlineData("\"just text\"")]
    [InlineData("null")]
    public async Task With_response_true_the_apps_json_answer_comes_back_as_one_text_frame(string answer)
    {
        var client = await ConnectAsRootAsync();
        App.Responder = r => r.ConnId == client.ClientId && r.Action == "message" ? new AppReply(200, answer) : null;

        await client.SendAsync("{\"type\":\"walker\",\"walker\":\"get_todos\",\"node\":\"n::abc\",\"response\":true,\"context\":{}}");
        var frame = await client.Socket.ReceiveAsync();

        Assert.True(frame.IsText, $"the answer is a text frame: {frame}");
        Assert.Equal(answer, frame.Text);
        await client.AssertNoMessageAsync();
    }

    [Fact]
    public async Task Frames_the_app_pushes_to_the_client_while_answering_arrive_before_the_answer()
    {
        var client = await ConnectAsRootAsync();
        var receipts = new List<string>();
        App.Responder = r =>
        {
            if (r.ConnId != client.ClientId || r.Action != "message")
            {
                return null;
            }

            // The app calls the gateway back before it answers, as a jac walker that reports progress does.
            receipts.Add(Gateway.Admin.SendAsync($"{{\"conn_id\":\"{client.ClientId}\",\"payload\":{{\"progress\":1}}}}").GetAwaiter().GetResult().Text);
            receipts.Add(Gateway.Admin.SendAsync($"{{\"users\":[\"{client.RootId}\"],\"payload\":{{\"progress\":2}}}}").GetAwaiter().GetResult().Text);
            return new AppReply(200, Answer);
        };

        await client.SendAsync("{\"type\":\"walker\",\"walker\":\"long_job\",\"response\":true}");

        Assert.Equal("{\"progress\":1}", await client.ReceiveTextAsync());
        Assert.Equal("{\"progress\":2}", await client.ReceiveTextAsync());
        Assert.Equal(Answer, await client.ReceiveTextAsync());
        Assert.All(receipts, receipt => Assert.Equal("{\"code\":0,\"data\":{\"matched\":1,\"enqueued\":1,\"dropped\":0},\"message\":\"success\"}", receipt));
    }

    [Fact]
    public async Task A_walker_slower_than_one_callback_attempt_but_within_the_walker_timeout_still_answers()
    {
        var client = await ConnectAsRootAsync();
        var delay = JacWalkerFixture.AttemptTimeout * 2;
        App.Responder = r => r.ConnId == client.ClientId && r.Action == "message" ? new AppReply(200, Answer, delay) : null;

        await client.SendAsync("{\"type\":\"walker\",\"walker\":\"slow\",\"response\":true}");

        Assert.Equal(Answer, await client.ReceiveTextAsync());
        Assert.Single(App.ForConnection(client.ClientId), r => r.Action == "message");
    }

    [Fact]
    public async Task A_walker_beyond_the_walker_timeout_gets_a_walker_error_and_the_socket_stays_open()
    {
        var client = await ConnectAsRootAsync();
        App.Responder = r => r.ConnId == client.ClientId && r.Action == "message" && r.BodyText.Contains("too_slow", StringComparison.Ordinal)
            ? new AppReply(200, Answer, TestTimeouts.Long)
            : null;
        var elapsed = Stopwatch.StartNew();

        await client.SendAsync("{\"type\":\"walker\",\"walker\":\"too_slow\",\"response\":true}");
        var error = await client.ReceiveTextAsync(JacWalkerFixture.WalkerTimeout + TestTimeouts.Default);
        elapsed.Stop();

        JacWire.AssertWalkerError(error);
        Assert.True(elapsed.Elapsed >= JacWalkerFixture.WalkerTimeout - TimeSpan.FromMilliseconds(200), $"the error came after {elapsed.Elapsed}, before the walker timeout");

        App.ResponseBody = "{\"next\":true}";
        await client.SendAsync("{\"type\":\"walker\",\"walker\":\"next\",\"response\":true}");
        Assert.Equal("{\"next\":true}", await client.ReceiveTextAsync());
    }

    [Theory]
    [InlineData(500)]
    [InlineData(503)]
    [InlineData(404)]
    [InlineData(400)]
    public async Task An_app_answering_an_error_status_gives_a_walker_error(int status)
    {
        var client = await ConnectAsRootAsync();
        App.Responder = r => r.ConnId == client.ClientId && r.Action == "message" ? new AppReply(status, "{\"detail\":\"nope\"}") : null;

        await client.SendAsync("{\"type\":\"walker\",\"walker\":\"fails\",\"response\":true}");

        JacWire.AssertWalkerError(await client.ReceiveTextAsync());
        await client.SendAsync("{\"type\":\"connection\"}");
        Assert.Equal(client.Greeting, await client.ReceiveTextAsync());
    }

    [Theory]
    [InlineData(200, "OK")]
    [InlineData(200, "")]
    [InlineData(200, "{\"a\":1} {\"b\":2}")]
    [InlineData(200, "{\"unterminated\":")]
    [InlineData(204, null)]
    public async Task An_app_answering_something_other_than_json_gives_a_walker_error(int status, string? body)
    {
        var client = await ConnectAsRootAsync();
        App.Responder = r => r.ConnId == client.ClientId && r.Action == "message" ? new AppReply(status, body, ContentType: "text/plain") : null;

        await client.SendAsync("{\"type\":\"walker\",\"walker\":\"odd\",\"response\":true}");

        JacWire.AssertWalkerError(await client.ReceiveTextAsync());
    }

    [Fact]
    public async Task An_unreachable_app_gives_a_walker_error()
    {
        var client = await ConnectAsRootAsync();
        await App.StopAsync();
        try
        {
            await client.SendAsync("{\"type\":\"walker\",\"walker\":\"nobody_home\",\"response\":true}");

            JacWire.AssertWalkerError(await client.ReceiveTextAsync(JacWalkerFixture.WalkerTimeout + TestTimeouts.Default));
        }
        finally
        {
            await App.StartAsync();
        }
    }

    [Theory]
    [InlineData("\"response\":false")]
    [InlineData("\"response\":0")]
    [InlineData("\"context\":{}")]
    public async Task Without_response_true_nothing_comes_back(string field)
    {
        var client = await ConnectAsRootAsync();
        App.ResponseBody = Answer;

        await client.SendAsync($"{{\"type\":\"walker\",\"walker\":\"fire_and_forget\",{field}}}");
        var message = await App.WaitForActionAsync(client.ClientId, "message");

        Assert.Contains("fire_and_forget", message.DataJson, StringComparison.Ordinal);
        await client.AssertNoMessageAsync();
    }

    [Theory]
    [InlineData("true", true)]
    [InlineData("1", true)]
    [InlineData("\"yes\"", true)]
    [InlineData("\"On\"", true)]
    [InlineData("1.0", true)]
    [InlineData("false", false)]
    [InlineData("0", false)]
    [InlineData("\"off\"", false)]
    [InlineData("0.0", false)]
    public async Task Response_is_read_as_a_pydantic_lax_boolean(string response, bool answered)
    {
        // jac-cloud validates "response: bool" with pydantic in lax mode: 0/1, 0.0/1.0 and the usual words are booleans.
        var client = await ConnectAsRootAsync();
        App.ResponseBody = "{\"answered\":true}";

        await client.SendAsync($"{{\"type\":\"walker\",\"walker\":\"lax\",\"response\":{response}}}");

        if (answered)
        {
            Assert.Equal("{\"answered\":true}", await client.ReceiveTextAsync());
        }
        else
        {
            // A validation error would come before the connection event; a forwarded walker gets nothing back.
            await client.SendAsync("{\"type\":\"connection\"}");
            Assert.Equal(client.Greeting, await client.ReceiveTextAsync());
            await App.WaitForActionAsync(client.ClientId, "message");
            await client.AssertNoMessageAsync();
        }
    }

    [Fact]
    public async Task Walker_answers_come_back_in_the_order_the_walkers_were_sent()
    {
        var client = await ConnectAsRootAsync();
        App.Responder = r => r.ConnId != client.ClientId || r.Action != "message"
            ? null
            : r.BodyText.Contains("\"first\"", StringComparison.Ordinal)
                ? new AppReply(200, "{\"answer\":1}", TimeSpan.FromMilliseconds(300))
                : r.BodyText.Contains("\"second\"", StringComparison.Ordinal) ? new AppReply(500) : new AppReply(200, "{\"answer\":3}");

        await client.SendAsync("{\"type\":\"walker\",\"walker\":\"first\",\"response\":true}");
        await client.SendAsync("{\"type\":\"walker\",\"walker\":\"second\",\"response\":true}");
        await client.SendAsync("{\"type\":\"walker\",\"walker\":\"unanswered\",\"response\":false}");
        await client.SendAsync("{\"type\":\"walker\",\"walker\":\"third\",\"response\":true}");

        Assert.Equal("{\"answer\":1}", await client.ReceiveTextAsync());
        JacWire.AssertWalkerError(await client.ReceiveTextAsync());
        Assert.Equal("{\"answer\":3}", await client.ReceiveTextAsync());
        await client.AssertNoMessageAsync();
    }

    [Fact]
    public async Task A_walker_queued_behind_a_message_the_app_keeps_failing_gets_a_walker_error_within_the_walker_timeout()
    {
        // The app accepts the open, then never answers one ordinary message in time (so the gateway keeps retrying it).
        var client = await ConnectAsRootAsync();
        App.Responder = r => r.ConnId == client.ClientId && r.BodyText.Contains("stuck", StringComparison.Ordinal) ? new AppReply(200, null, TestTimeouts.Long) : null;
        await client.SendAsync("{\"type\":\"walker\",\"walker\":\"stuck\",\"response\":false}");
        await App.WaitForAsync(r => r.ConnId == client.ClientId && r.Action == "message");

        await client.SendAsync("{\"type\":\"walker\",\"walker\":\"waiting\",\"response\":true}");

        JacWire.AssertWalkerError(await client.ReceiveTextAsync(JacWalkerFixture.WalkerTimeout + TestTimeouts.Dilated(TimeSpan.FromSeconds(3))));
    }

    [Fact]
    public async Task A_walker_that_cannot_reach_the_app_at_all_gets_a_walker_error_within_the_walker_timeout()
    {
        // The app is down from the start: even the open callback cannot be delivered.
        var host = await StartOwnGatewayAsync(
            o => o.With("Jac", "TokenSecret", JacTokens.Secret).With("Jac", "WalkerTimeout", "00:00:02"),
            "gateway whose app is down");
        await host.App.StopAsync();
        var client = await ConnectJacAsync(JacTokens.ForRoot(JacTokens.NewRootHex()), host: host);

        await client.SendAsync("{\"type\":\"walker\",\"walker\":\"nobody_home\",\"response\":true}");

        JacWire.AssertWalkerError(await client.ReceiveTextAsync(TimeSpan.FromSeconds(2) + TestTimeouts.Dilated(TimeSpan.FromSeconds(3))));
    }
}
