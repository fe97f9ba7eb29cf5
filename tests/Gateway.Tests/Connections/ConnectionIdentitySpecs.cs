using Gateway.Connections;

namespace Gateway.Tests.Connections;

public sealed class ConnectionIdentitySpecs
{
    private static readonly DateTimeOffset At = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void The_token_md5_is_lowercase_hex()
    {
        Assert.Equal("098f6bcd4621d373cade4e832627b4f6", Make(token: "test").TokenMd5);
        Assert.Equal("d41d8cd98f00b204e9800998ecf8427e", Make(token: string.Empty).TokenMd5);
    }

    [Fact]
    public void A_changed_user_keeps_the_connection_and_recomputes_the_token_md5()
    {
        var before = Make(token: "old");
        _ = before.TokenMd5;

        var after = before.WithUser("n::bob", "test", accessPublic: false);

        Assert.Equal(before.Id, after.Id);
        Assert.Equal(before.Channel, after.Channel);
        Assert.Equal(before.ConnectedAt, after.ConnectedAt);
        Assert.Equal("n::bob", after.User);
        Assert.False(after.AccessPublic);
        Assert.Equal("098f6bcd4621d373cade4e832627b4f6", after.TokenMd5);
    }

    [Fact]
    public void Identities_with_equal_values_stay_equal_after_their_derived_values_are_read()
    {
        var indexed = Make(token: "t1");
        var fresh = Make(token: "t1");
        Assert.Equal(fresh, indexed);

        // The registry reads TokenMd5 when it indexes a connection, the admin list reads UserAgentTag.
        _ = indexed.TokenMd5;
        _ = indexed.UserAgentTag;

        // Assert.True rather than Assert.Equal: printing an identity reads its derived values and so changes its equality.
        Assert.True(indexed.Equals(fresh), "equal identities compare unequal once one has cached its MD5s");
        Assert.Equal(fresh.GetHashCode(), indexed.GetHashCode());
    }

    [Fact]
    public void A_with_expression_does_not_carry_a_stale_token_md5()
    {
        var original = Make(token: "old");
        _ = original.TokenMd5;

        var copy = original with { Token = "test" };

        Assert.Equal("098f6bcd4621d373cade4e832627b4f6", copy.TokenMd5);
    }

    private static ConnectionIdentity Make(string token) =>
        new(new ConnectionId("c1"), Dialect.Jac, "n::alice", token, false, "agent", string.Empty, "channel", At);
}
