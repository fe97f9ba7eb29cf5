using System.Text;
using Gateway.Dialects;

namespace Gateway.Tests.Dialects;

public sealed class JsonFrameSpecs
{
    [Theory]
    [InlineData("{\"event\":\"ping\"}")]
    [InlineData("{ \"event\" : \"ping\" }")]
    [InlineData("{\"\\u0065vent\":\"ping\"}")]
    [InlineData("{\"event\":\"p\\u0069ng\"}")]
    [InlineData("{\"event\":\"ping\",\"data\":{\"x\":[1,2,{\"event\":\"chat\"}]}}")]
    [InlineData("{\"data\":{\"event\":\"chat\"},\"event\":\"ping\"}")]
    [InlineData("{\"event\":\"chat\",\"event\":\"ping\"}")]
    [InlineData("{\"event\":1,\"event\":\"ping\"}")]
    public void An_object_whose_last_event_is_the_string_ping_is_a_ping(string frame)
    {
        var inspected = Inspect(frame);

        Assert.True(inspected.IsObject);
        Assert.True(inspected.IsPing);
    }

    [Theory]
    [InlineData("{\"event\":\"ping\",\"event\":\"chat\"}")]
    [InlineData("{\"event\":\"ping\",\"event\":null}")]
    [InlineData("{\"event\":\"Ping\"}")]
    [InlineData("{\"event\":\"ping \"}")]
    [InlineData("{\"event\":true}")]
    [InlineData("{\"event\":1}")]
    [InlineData("{\"event\":[\"ping\"]}")]
    [InlineData("{\"event\":{\"event\":\"ping\"}}")]
    [InlineData("{\"data\":{\"event\":\"ping\"}}")]
    [InlineData("{\"events\":\"ping\"}")]
    [InlineData("{\"ping\":\"event\"}")]
    [InlineData("{}")]
    public void Other_objects_are_objects_but_not_pings(string frame)
    {
        var inspected = Inspect(frame);

        Assert.True(inspected.IsObject);
        Assert.False(inspected.IsPing);
    }

    [Theory]
    [InlineData("[{\"event\":\"ping\"}]")]
    [InlineData("\"{\\\"event\\\":\\\"ping\\\"}\"")]
    [InlineData("42")]
    [InlineData("null")]
    [InlineData("true")]
    [InlineData("ping")]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("{")]
    [InlineData("{\"event\":\"ping\"")]
    [InlineData("{\"event\":}")]
    [InlineData("{\"event\":\"ping\",}")]
    [InlineData("{'event':'ping'}")]
    [InlineData("{\"event\":\"ping\"}x")]
    [InlineData("{\"event\":\"ping\"} {}")]
    [InlineData("{\"event\":\"ping\"}{\"event\":\"ping\"}")]
    [InlineData("{\"event\":\"ping\"}]")]
    [InlineData("{\"event\":\"ping\"} // comment")]
    public void Arrays_scalars_invalid_json_and_trailing_garbage_are_not_objects(string frame)
    {
        var inspected = Inspect(frame);

        Assert.False(inspected.IsObject);
        Assert.False(inspected.IsPing);
    }

    [Theory]
    [InlineData("{\"a\":1}", 0, 7)]
    [InlineData("  {\"a\":1}", 2, 7)]
    [InlineData("{\"a\":1}\n\n", 0, 7)]
    [InlineData(" \t\r\n{ \"a\" : [ 1 , 2 ] }\r\n ", 4, 19)]
    public void Whitespace_around_an_object_is_allowed_and_excluded_from_its_span(string frame, int start, int length)
    {
        var inspected = Inspect(frame);

        Assert.Equal(new JsonFrame(true, false, start, length), inspected);
        Assert.Equal(frame.Trim(), frame.Substring(start, length));
    }

    [Fact]
    public void Offsets_are_in_bytes_not_characters()
    {
        var frame = Encoding.UTF8.GetBytes("\u00a0");
        Assert.False(JsonFrame.Inspect(frame).IsObject); // a non-breaking space is not JSON whitespace

        // "é" is 2 bytes and "😀" 4 (2 UTF-16 units): the object is 13 bytes, starting after 2 bytes of padding.
        var inspected = JsonFrame.Inspect(Encoding.UTF8.GetBytes("  {\"é\":\"😀\"} "));
        Assert.Equal(new JsonFrame(true, false, 2, 13), inspected);
    }

    [Fact]
    public void Deeply_nested_objects_are_still_objects()
    {
        var frame = "{\"a\":" + string.Concat(Enumerable.Repeat("[", 500)) + string.Concat(Enumerable.Repeat("]", 500)) + ",\"event\":\"ping\"}";

        Assert.True(Inspect(frame).IsPing);
    }

    private static JsonFrame Inspect(string frame) => JsonFrame.Inspect(Encoding.UTF8.GetBytes(frame));
}
