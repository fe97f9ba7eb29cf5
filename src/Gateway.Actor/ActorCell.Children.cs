namespace Gateway.Actor;

/// <summary>Children: creation, naming and lookup. The table is locked because top-level actors are created from any thread.</summary>
internal sealed partial class ActorCell
{
    private const string NameAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+~";

    public IEnumerable<IActorRef> Children => ChildrenSnapshot();

    public IActorRef ActorOf(Props props, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(props);
        if (name is not null)
        {
            ValidateName(name);
        }

        if (Volatile.Read(ref _state) != StateAlive)
        {
            throw new InvalidOperationException($"Cannot create a child of {Path}: it is stopping or stopped.");
        }

        var extras = Ext;
        var children = LazyInitializer.EnsureInitialized(ref extras.Children, static () => new Dictionary<string, ActorCell>(StringComparer.Ordinal));
        ActorCell child;
        lock (children)
        {
            name ??= NextChildName(extras);
            if (children.ContainsKey(name))
            {
                throw new InvalidActorNameException($"Actor name [{name}] is not unique under {Path}.");
            }

            child = new ActorCell(_system, this, props, name);
            children.Add(name, child);
        }

        child.SendSystemMessage(new Create());
        return child;
    }

    public IActorRef Child(string name)
    {
        var children = _extras?.Children;
        if (children is null)
        {
            return ActorRefs.Nobody;
        }

        lock (children)
        {
            return children.TryGetValue(name, out var child) ? child : ActorRefs.Nobody;
        }
    }

    internal ActorCell[] ChildrenSnapshot()
    {
        var children = _extras?.Children;
        if (children is null)
        {
            return [];
        }

        lock (children)
        {
            return children.Count == 0 ? [] : [.. children.Values];
        }
    }

    private int ChildCount()
    {
        var children = _extras?.Children;
        if (children is null)
        {
            return 0;
        }

        lock (children)
        {
            return children.Count;
        }
    }

    private bool IsChild(ActorCell cell)
    {
        var children = _extras?.Children;
        if (children is null)
        {
            return false;
        }

        lock (children)
        {
            return children.TryGetValue(cell._name, out var existing) && ReferenceEquals(existing, cell);
        }
    }

    private void RemoveChild(ActorCell child)
    {
        var children = _extras?.Children;
        if (children is null)
        {
            return;
        }

        lock (children)
        {
            if (children.TryGetValue(child._name, out var existing) && ReferenceEquals(existing, child))
            {
                children.Remove(child._name);
            }
        }
    }

    private static string NextChildName(Extras extras)
    {
        // "$" + base-64 digits of a per-parent counter, as Akka does: $a, $b, ... $~, $ba, ...
        var number = extras.ChildNameCounter++;
        Span<char> buffer = stackalloc char[16];
        var position = buffer.Length;
        do
        {
            buffer[--position] = NameAlphabet[(int)(number & 63)];
            number >>= 6;
        }
        while (number > 0);

        buffer[--position] = '$';
        return new string(buffer[position..]);
    }

    private static void ValidateName(string name)
    {
        if (name.Length == 0)
        {
            throw new InvalidActorNameException("An actor name must not be empty.");
        }

        if (name[0] == '$')
        {
            throw new InvalidActorNameException($"Actor name [{name}] is invalid: names starting with '$' are reserved for generated names.");
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || "-_.*$+:@&=,!~';".Contains(c, StringComparison.Ordinal)))
            {
                throw new InvalidActorNameException(
                    $"Actor name [{name}] is invalid: use ASCII letters, digits and -_.*$+:@&=,!~'; only.");
            }
        }
    }
}
