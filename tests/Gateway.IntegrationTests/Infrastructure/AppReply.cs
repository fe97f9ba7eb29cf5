namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>How the app answers one callback: status, optional body, optional delay before answering.</summary>
public sealed record AppReply(int Status = 200, string? Body = null, TimeSpan Delay = default, string ContentType = "application/json");
