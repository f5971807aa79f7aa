namespace NumLstm;

/// <summary>
/// Size products at the public entries, computed in 128 bits so that a product of ints cannot wrap (65536 · 65536 is 0
/// in an int), and refused past one array with an <see cref="ArgumentException"/> that names the dimensions.
/// </summary>
internal static class ArraySizes
{
    /// <summary>Whether a product, computed from the dimensions in <see cref="Int128"/>, fits one array.</summary>
    public static bool Fits(Int128 count) => count <= Array.MaxLength;

    /// <summary>
    /// The exception for a product past one array; the message, built only here and off the hot path, starts with
    /// <paramref name="what"/>, the buffer and its dimensions (<c>Layer 'dense': the output [B=1, T=2048, 1048576]</c>).
    /// </summary>
    public static ArgumentException TooLarge(Int128 count, string what, string? paramName) =>
        new($"{what} holds {count} values, more than the maximum array length {Array.MaxLength}.", paramName);
}
