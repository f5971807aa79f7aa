namespace NumLstm.IO;

/// <summary>
/// Names and lists from a file (or a caller) as error messages echo them: capped, so that a hostile file's 10 MB tensor
/// name or millions of missing names cannot make a message of that size.
/// </summary>
internal static class Echo
{
    /// <summary>The most characters of a name a message echoes.</summary>
    public const int MaxNameLength = 200;

    /// <summary>The most items of a list a message echoes.</summary>
    public const int MaxListItems = 5;

    /// <summary>The name, or its first <see cref="MaxNameLength"/> characters and "… (N characters)".</summary>
    public static string Name(string? name)
    {
        return name is null ? "null" : Text(name, MaxNameLength);
    }

    /// <summary>A value found in a file, its first <paramref name="maxLength"/> characters and "… (N characters)" when longer.</summary>
    public static string Text(string text, int maxLength)
    {
        if (text.Length <= maxLength) return text;
        int cut = char.IsHighSurrogate(text[maxLength - 1]) ? maxLength - 1 : maxLength;
        return $"{text[..cut]}… ({text.Length} characters)";
    }

    /// <summary>"a, b, c" of the first <see cref="MaxListItems"/> names (each capped as <see cref="Name"/>), then
    /// "and N more".</summary>
    public static string List(IEnumerable<string> names)
    {
        var shown = new List<string>(MaxListItems);
        long more = 0;
        foreach (string name in names)
        {
            if (shown.Count < MaxListItems) shown.Add(Name(name));
            else more++;
        }
        string text = string.Join(", ", shown);
        return more == 0 ? text : $"{text} and {more} more";
    }
}
