using System.Text;

namespace Gateway.Actor;

/// <summary>
/// The location of an actor: <c>akka://&lt;system&gt;/user/parent/child</c>. Paths compare by their
/// elements; two incarnations of an actor at the same path have equal paths but unequal references.
/// </summary>
public sealed class ActorPath : IEquatable<ActorPath>, IComparable<ActorPath>
{
    private string? _text;

    private ActorPath(ActorPath? parent, string name, string address)
    {
        Parent = parent;
        Name = name;
        Address = address;
        Depth = parent is null ? 0 : parent.Depth + 1;
    }

    /// <summary>The last element of the path; <c>/</c> for a root.</summary>
    public string Name { get; }

    /// <summary>The enclosing path, or <see langword="null"/> for a root.</summary>
    public ActorPath? Parent { get; }

    /// <summary>The system address, <c>akka://&lt;system&gt;</c>.</summary>
    public string Address { get; }

    /// <summary>Number of elements below the root.</summary>
    public int Depth { get; }

    /// <summary>The root of this path.</summary>
    public ActorPath Root
    {
        get
        {
            var path = this;
            while (path.Parent is not null)
            {
                path = path.Parent;
            }

            return path;
        }
    }

    /// <summary>The elements below the root, outermost first (<c>["user", "registry"]</c>).</summary>
    public IReadOnlyList<string> Elements
    {
        get
        {
            var elements = new string[Depth];
            var path = this;
            for (var i = Depth - 1; i >= 0; i--)
            {
                elements[i] = path.Name;
                path = path.Parent!;
            }

            return elements;
        }
    }

    /// <summary>Creates the root path of the system named <paramref name="systemName"/>.</summary>
    public static ActorPath CreateRoot(string systemName) => new(null, "/", "akka://" + systemName);

    /// <summary>The child path named <paramref name="name"/>.</summary>
    public static ActorPath operator /(ActorPath parent, string name)
    {
        ArgumentNullException.ThrowIfNull(parent);
        ArgumentException.ThrowIfNullOrEmpty(name);
        return new ActorPath(parent, name, parent.Address);
    }

    /// <summary>The child path named <paramref name="name"/>.</summary>
    public ActorPath Child(string name) => this / name;

    /// <inheritdoc/>
    public bool Equals(ActorPath? other)
    {
        if (ReferenceEquals(this, other))
        {
            return true;
        }

        if (other is null || other.Depth != Depth)
        {
            return false;
        }

        var a = this;
        var b = other;
        while (a is not null && b is not null)
        {
            if (!string.Equals(a.Name, b.Name, StringComparison.Ordinal))
            {
                return false;
            }

            if (a.Parent is null && !string.Equals(a.Address, b.Address, StringComparison.Ordinal))
            {
                return false;
            }

            a = a.Parent;
            b = b.Parent;
        }

        return true;
    }

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is ActorPath other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(ToString());

    /// <inheritdoc/>
    public int CompareTo(ActorPath? other) => other is null ? 1 : string.CompareOrdinal(ToString(), other.ToString());

    /// <summary>The full path, <c>akka://system/user/a/b</c>.</summary>
    public override string ToString()
    {
        if (_text is not null)
        {
            return _text;
        }

        if (Parent is null)
        {
            return _text = Address + "/";
        }

        var builder = new StringBuilder(Address);
        foreach (var element in Elements)
        {
            builder.Append('/').Append(element);
        }

        return _text = builder.ToString();
    }
}
