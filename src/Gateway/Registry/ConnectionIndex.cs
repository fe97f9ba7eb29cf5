using Gateway.Connections;
using Gateway.WebSockets;

namespace Gateway.Registry;

/// <summary>A connection as the registry knows it: who it is and where its frames go.</summary>
internal sealed class IndexedConnection(ConnectionIdentity identity, IOutbox outbox)
{
    public ConnectionIdentity Identity { get; set; } = identity;

    public IOutbox Outbox { get; } = outbox;
}

/// <summary>
/// The registry's indexes: by id, by user, by token (raw and MD5) and by channel. Owned by the
/// registry actor (single-threaded). A key held by one connection, the usual case for tokens,
/// costs a dictionary entry and no set.
/// </summary>
internal sealed class ConnectionIndex
{
    private readonly Dictionary<string, IndexedConnection> _byId = new(StringComparer.Ordinal);
    private readonly MultiIndex _byUser = new();
    private readonly MultiIndex _byToken = new();
    private readonly MultiIndex _byChannel = new();

    public int Count => _byId.Count;

    public int UserCount => _byUser.KeyCount;

    public IEnumerable<IndexedConnection> All => _byId.Values;

    public bool Contains(ConnectionId id) => _byId.ContainsKey(id.Value);

    public bool TryGet(ConnectionId id, out IndexedConnection connection) => _byId.TryGetValue(id.Value, out connection!);

    public void Add(IndexedConnection connection)
    {
        _byId.Add(connection.Identity.Id.Value, connection);
        AddKeys(connection);
    }

    public IndexedConnection? Remove(ConnectionId id)
    {
        if (!_byId.Remove(id.Value, out var connection))
        {
            return null;
        }

        RemoveKeys(connection);
        return connection;
    }

    public void Update(IndexedConnection connection, ConnectionIdentity current)
    {
        RemoveKeys(connection);
        connection.Identity = current;
        AddKeys(connection);
    }

    /// <summary>
    /// The connections matching every filter that is given, each once, enumerated lazily: a send to
    /// thousands of connections builds no list or set of them (one that large lands on the large object
    /// heap, whose budget, once used up, starts a full blocking collection). Enumerate it before the index
    /// changes.
    /// </summary>
    public IEnumerable<IndexedConnection> Resolve(RegistryProtocol.TargetFilter filter)
    {
        if (filter.ConnIds is { Count: > 0 } ids)
        {
            // Distinct ids (the admin API's parser gives a set or a single id), so each connection comes once.
            foreach (var id in ids)
            {
                if (_byId.TryGetValue(id, out var byId) && Matches(byId, filter))
                {
                    yield return byId;
                }
            }

            yield break;
        }

        // Start from the smallest of the given filters and check the others on each candidate.
        // The candidates of one index are known to match its own filter, so that filter is not checked again.
        IEnumerable<IndexedConnection>? candidates = null;
        var smallest = int.MaxValue;
        var narrowedBy = Narrowed.None;
        Consider(_byUser, filter.Users, Narrowed.Users, ref candidates, ref smallest, ref narrowedBy);

        // Tokens are indexed raw; a filter may also name a token by its MD5, which is only known by
        // hashing each connection's token, so such a filter cannot narrow the candidates by itself.
        if (filter.Tokens is not { Count: > 0 } tokens || !tokens.Any(LooksLikeMd5))
        {
            Consider(_byToken, filter.Tokens, Narrowed.Tokens, ref candidates, ref smallest, ref narrowedBy);
        }

        Consider(_byChannel, filter.Channels, Narrowed.Channels, ref candidates, ref smallest, ref narrowedBy);
        if (candidates is null)
        {
            if (filter.IsEmpty)
            {
                if (filter.All)
                {
                    foreach (var connection in _byId.Values)
                    {
                        yield return connection;
                    }
                }

                yield break;
            }

            candidates = _byId.Values;
        }

        // When the filter that supplied the candidates is the only one given (the usual send names users
        // only), every candidate matches and none needs checking.
        var onlyTheNarrowingFilter = filter.UsersAccessType == 0 && narrowedBy switch
        {
            Narrowed.Users => !filter.HasTokens && !filter.HasChannels,
            Narrowed.Tokens => !filter.HasUsers && !filter.HasChannels,
            Narrowed.Channels => !filter.HasUsers && !filter.HasTokens,
            _ => false,
        };
        foreach (var candidate in candidates)
        {
            if (onlyTheNarrowingFilter || Matches(candidate, filter, narrowedBy))
            {
                yield return candidate;
            }
        }
    }

    /// <summary>The connections of any of <paramref name="keys"/> in the index of <paramref name="kind"/>.</summary>
    public IEnumerable<IndexedConnection> Lookup(RegistryProtocol.RouteKind kind, IReadOnlyList<string> keys)
    {
        if (kind == RegistryProtocol.RouteKind.Clients)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var key in keys)
            {
                if (seen.Add(key) && _byId.TryGetValue(key, out var connection))
                {
                    yield return connection;
                }
            }

            yield break;
        }

        foreach (var connection in (kind == RegistryProtocol.RouteKind.Users ? _byUser : _byChannel).Union(keys))
        {
            yield return connection;
        }
    }

    private static void Consider(MultiIndex index, IReadOnlyCollection<string>? keys, Narrowed by, ref IEnumerable<IndexedConnection>? candidates, ref int smallest, ref Narrowed narrowedBy)
    {
        if (keys is null || keys.Count == 0)
        {
            return;
        }

        var size = index.CountUnion(keys);
        if (size < smallest)
        {
            smallest = size;
            candidates = index.Union(keys);
            narrowedBy = by;
        }
    }

    private static bool LooksLikeMd5(string token) => token.Length == 32 && token.All(char.IsAsciiHexDigit);

    private static bool Matches(IndexedConnection connection, RegistryProtocol.TargetFilter filter, Narrowed narrowedBy = Narrowed.None)
    {
        var identity = connection.Identity;
        if (filter.Users is { Count: > 0 } users)
        {
            if (narrowedBy != Narrowed.Users && !users.Contains(identity.User))
            {
                return false;
            }

            if ((filter.UsersAccessType == 1 && identity.AccessPublic) || (filter.UsersAccessType == 2 && !identity.AccessPublic))
            {
                return false;
            }
        }

        if (narrowedBy != Narrowed.Tokens && filter.Tokens is { Count: > 0 } tokens && !tokens.Contains(identity.Token) && !tokens.Contains(identity.TokenMd5))
        {
            return false;
        }

        if (narrowedBy != Narrowed.Channels && filter.Channels is { Count: > 0 } channels && (identity.Channel is null || !channels.Contains(identity.Channel)))
        {
            return false;
        }

        return filter.ConnIds is not { Count: > 0 } connIds || connIds.Contains(identity.Id.Value);
    }

    private void AddKeys(IndexedConnection connection)
    {
        var identity = connection.Identity;
        _byUser.Add(identity.User, connection);
        _byToken.Add(identity.Token, connection);
        if (identity.Channel is not null)
        {
            _byChannel.Add(identity.Channel, connection);
        }
    }

    private void RemoveKeys(IndexedConnection connection)
    {
        var identity = connection.Identity;
        _byUser.Remove(identity.User, connection);
        _byToken.Remove(identity.Token, connection);
        if (identity.Channel is not null)
        {
            _byChannel.Remove(identity.Channel, connection);
        }
    }

    /// <summary>Which filter's index the candidates came from.</summary>
    private enum Narrowed
    {
        None,
        Users,
        Tokens,
        Channels,
    }

    /// <summary>Key → connections, where one connection is stored bare and more in a set.</summary>
    private sealed class MultiIndex
    {
        private readonly Dictionary<string, object> _entries = new(StringComparer.Ordinal);

        public int KeyCount => _entries.Count;

        public void Add(string key, IndexedConnection connection)
        {
            if (!_entries.TryGetValue(key, out var existing))
            {
                _entries[key] = connection;
            }
            else if (existing is HashSet<IndexedConnection> set)
            {
                set.Add(connection);
            }
            else if (!ReferenceEquals(existing, connection))
            {
                _entries[key] = new HashSet<IndexedConnection> { (IndexedConnection)existing, connection };
            }
        }

        public void Remove(string key, IndexedConnection connection)
        {
            if (!_entries.TryGetValue(key, out var existing))
            {
                return;
            }

            if (existing is HashSet<IndexedConnection> set)
            {
                set.Remove(connection);
                if (set.Count == 1)
                {
                    _entries[key] = set.First();
                }
            }
            else if (ReferenceEquals(existing, connection))
            {
                _entries.Remove(key);
            }
        }

        public int CountUnion(IReadOnlyCollection<string> keys)
        {
            var count = 0;
            foreach (var key in keys)
            {
                if (_entries.TryGetValue(key, out var existing))
                {
                    count += existing is HashSet<IndexedConnection> set ? set.Count : 1;
                }
            }

            return count;
        }

        public IEnumerable<IndexedConnection> Union(IReadOnlyCollection<string> keys)
        {
            if (keys.Count == 1)
            {
                // The common case needs no set of the keys seen.
                if (_entries.TryGetValue(keys.First(), out var only))
                {
                    if (only is HashSet<IndexedConnection> members)
                    {
                        foreach (var connection in members)
                        {
                            yield return connection;
                        }
                    }
                    else
                    {
                        yield return (IndexedConnection)only;
                    }
                }

                yield break;
            }

            // Each connection sits under at most one key of an index (it has one user, one token and at
            // most one channel), so distinct keys never share a connection: no set of those seen is needed.
            var distinctKeys = new HashSet<string>(StringComparer.Ordinal);
            foreach (var key in keys)
            {
                if (!distinctKeys.Add(key) || !_entries.TryGetValue(key, out var existing))
                {
                    continue;
                }

                if (existing is HashSet<IndexedConnection> set)
                {
                    foreach (var connection in set)
                    {
                        yield return connection;
                    }
                }
                else
                {
                    yield return (IndexedConnection)existing;
                }
            }
        }
    }
}
