using System.Text;
using Gateway.Admin;
using Gateway.Connections;
using static Gateway.Registry.RegistryProtocol;

namespace Gateway.Tests.Admin;

public sealed class AdminResponsesSpecs
{
    private static readonly DateTimeOffset Noon = new(2025, 3, 1, 12, 0, 0, 123, TimeSpan.Zero);

    [Fact]
    public void Success_is_code_0_and_message_success()
    {
        Assert.Equal("{\"code\":0,\"message\":\"success\"}", Encoding.UTF8.GetString(AdminResponses.Success));
    }

    [Fact]
    public void An_error_has_its_code_and_message_in_sorted_key_order()
    {
        Assert.Equal("{\"code\":400,\"message\":\"send message target is nil\"}", Text(AdminResponses.Error(400, "send message target is nil")));
    }

    [Fact]
    public void An_error_message_is_json_escaped()
    {
        Assert.Equal(
            "{\"code\":400,\"message\":\"send data invalid, with \\\"binary\\\":true the payload must be a base64 string\"}",
            Text(AdminResponses.Error(400, "send data invalid, with \"binary\":true the payload must be a base64 string")));
        Assert.Equal("{\"code\":400,\"message\":\"invalid character '\\\\x01' <here>\"}", Text(AdminResponses.Error(400, "invalid character '\\x01' <here>")));
    }

    [Fact]
    public void A_receipt_is_success_with_the_counts_as_data()
    {
        Assert.Equal(
            "{\"code\":0,\"data\":{\"matched\":3,\"enqueued\":2,\"dropped\":1},\"message\":\"success\"}",
            Text(AdminResponses.Receipt(new DeliveryReceipt(3, 2, 1))));
    }

    [Fact]
    public void An_empty_list_has_an_empty_data_array()
    {
        Assert.Equal("{\"code\":0,\"data\":[],\"message\":\"success\"}", Text(AdminResponses.List(new ConnectionList([]))));
    }

    [Fact]
    public void A_list_has_olares_keys_sorted_then_the_extension_fields()
    {
        var privateConnection = new ConnectionIdentity(new ConnectionId("c1"), Dialect.Tapr, "alice", "tok-1", false, "Mozilla/5.0", "auth_token=tok-1", null, Noon);
        var publicConnection = new ConnectionIdentity(new ConnectionId("c2"), Dialect.Jac, "alice", "0e6f-guest", true, string.Empty, string.Empty, "room", Noon.AddSeconds(1));
        var list = new ConnectionList([new UserConnections("alice", [privateConnection], [publicConnection])]);

        Assert.Equal(
            "{\"code\":0,\"data\":[{"
            + "\"conns\":[{\"id\":\"c1\",\"token\":\"tok-1\",\"userAgent\":\"Mozilla/5.0\",\"userAgentTag\":\"" + ConnectionIdentity.Md5Hex("Mozilla/5.0") + "\","
            + "\"channels\":[],\"connected_at\":\"2025-03-01T12:00:00.123Z\",\"dialect\":\"tapr\"}],"
            + "\"conns_number\":1,"
            + "\"name\":\"alice\","
            + "\"public_conns\":[{\"id\":\"c2\",\"token\":\"0e6f-guest\",\"userAgent\":\"\",\"userAgentTag\":\"\","
            + "\"channels\":[\"room\"],\"connected_at\":\"2025-03-01T12:00:01.123Z\",\"dialect\":\"jac\"}],"
            + "\"public_conns_number\":1"
            + "}],\"message\":\"success\"}",
            Text(AdminResponses.List(list)));
    }

    [Fact]
    public void A_cluster_list_adds_each_connections_node_last_and_names_missing_nodes_after_message()
    {
        var connection = new ConnectionIdentity(new ConnectionId("c1"), Dialect.Tapr, "alice", "t", false, string.Empty, string.Empty, null, Noon);
        var list = new ConnectionList([new UserConnections("alice", [connection], [])]);
        var nodeOf = new Dictionary<ConnectionIdentity, string>(ReferenceEqualityComparer.Instance) { [connection] = "akka.tcp://gateway@10.0.0.1:4053" };

        Assert.Equal(
            "{\"code\":0,\"data\":[{"
            + "\"conns\":[{\"id\":\"c1\",\"token\":\"t\",\"userAgent\":\"\",\"userAgentTag\":\"\","
            + "\"channels\":[],\"connected_at\":\"2025-03-01T12:00:00.123Z\",\"dialect\":\"tapr\",\"node\":\"akka.tcp://gateway@10.0.0.1:4053\"}],"
            + "\"conns_number\":1,\"name\":\"alice\",\"public_conns\":[],\"public_conns_number\":0"
            + "}],\"message\":\"success\",\"missing_nodes\":[\"akka.tcp://gateway@10.0.0.3:4053\"]}",
            Text(AdminResponses.List(list, nodeOf, ["akka.tcp://gateway@10.0.0.3:4053"])));
        Assert.EndsWith("}],\"message\":\"success\"}", Text(AdminResponses.List(list, nodeOf, [])), StringComparison.Ordinal);
    }

    [Fact]
    public void A_list_keeps_the_registry_order_of_users_and_counts_each_side()
    {
        var a = new ConnectionIdentity(new ConnectionId("a"), Dialect.Tapr, "bob", "t", false, "ua", string.Empty, null, Noon);
        var b = new ConnectionIdentity(new ConnectionId("b"), Dialect.Tapr, "bob", "t", false, "ua", string.Empty, null, Noon);
        var list = new ConnectionList([new UserConnections("Bob", [], [a]), new UserConnections("bob", [a, b], [])]);

        var text = Text(AdminResponses.List(list));

        Assert.Contains("\"conns\":[],\"conns_number\":0,\"name\":\"Bob\"", text, StringComparison.Ordinal);
        Assert.Contains("\"public_conns_number\":1},{\"conns\":[", text, StringComparison.Ordinal);
        Assert.Contains("\"conns_number\":2,\"name\":\"bob\",\"public_conns\":[],\"public_conns_number\":0}]", text, StringComparison.Ordinal);
        Assert.True(text.IndexOf("\"Bob\"", StringComparison.Ordinal) < text.IndexOf("\"bob\"", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("test", "098f6bcd4621d373cade4e832627b4f6")]
    [InlineData("", "")]
    public void The_user_agent_tag_is_the_lowercase_hex_md5_of_the_user_agent_or_empty(string userAgent, string tag)
    {
        var identity = new ConnectionIdentity(new ConnectionId("c"), Dialect.Tapr, "u", "t", false, userAgent, string.Empty, null, Noon);

        Assert.Equal(tag, identity.UserAgentTag);
    }

    private static string Text(byte[] bytes) => Encoding.UTF8.GetString(bytes);
}
