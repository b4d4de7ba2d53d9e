using System.Text.Json;

namespace Cmtm.IO;

/// <summary>
/// The one JSON style of the files CMTM.NET designs itself (train config.json, progress.json, bench --json):
/// kebab-case keys ("seconds-per-frame"), indented; comments and trailing commas accepted on reading. The evaluation
/// reports keep the official toolkits' column names ("J&amp;F-Mean"), which their readers expect.
/// </summary>
public static class JsonFormat
{
    /// <summary>The shared options (read-only: derive with <c>new JsonSerializerOptions(JsonFormat.Options)</c>).</summary>
    public static JsonSerializerOptions Options { get; } = Create();

    private static JsonSerializerOptions Create()
    {
        var o = new JsonSerializerOptions
        {
            WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.KebabCaseLower,
            DictionaryKeyPolicy = null, ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true,
        };
        o.MakeReadOnly(populateMissingResolver: true);
        return o;
    }

    /// <summary>Serialises <paramref name="value"/> in this style.</summary>
    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);
}
