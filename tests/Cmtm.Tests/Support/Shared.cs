namespace Cmtm.Tests.Support;

/// <summary>
/// Locates ../shared (fixtures and real data) next to the repository. It never skips: a missing folder
/// fails the test, so parity tests cannot silently pass in CI. CMTM_SHARED overrides the search.
/// </summary>
public static class Shared
{
    private static readonly Lazy<string> RootLazy = new(Find);

    public static string Root => RootLazy.Value;
    public static string Fixtures => Path.Combine(Root, "fixtures");
    public static string Data => Path.Combine(Root, "data");

    public static string Fixture(params string[] parts) => Existing(Path.Combine(new[] { Fixtures }.Concat(parts).ToArray()));
    public static string DataPath(params string[] parts) => Existing(Path.Combine(new[] { Data }.Concat(parts).ToArray()));

    private static string Existing(string p) =>
        File.Exists(p) || Directory.Exists(p) ? p : throw new FileNotFoundException($"shared file missing: {p}");

    private static string Find()
    {
        var env = Environment.GetEnvironmentVariable("CMTM_SHARED");
        if (!string.IsNullOrEmpty(env))
            return Directory.Exists(Path.Combine(env, "fixtures")) ? Path.GetFullPath(env)
                : throw new DirectoryNotFoundException($"CMTM_SHARED={env} has no fixtures/ folder");
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "shared");
            if (Directory.Exists(Path.Combine(candidate, "fixtures"))) return candidate;
        }
        throw new DirectoryNotFoundException("../shared (with fixtures/) not found beside the repository; set CMTM_SHARED");
    }

    /// <summary>A fresh temporary folder, deleted when disposed.</summary>
    public sealed class TempDir : IDisposable
    {
        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "cmtm-test-" + Guid.NewGuid().ToString("N")[..10]);
        public TempDir() => Directory.CreateDirectory(Path);
        public string File(string name) => System.IO.Path.Combine(Path, name);
        public void Dispose() { try { Directory.Delete(Path, true); } catch { } }
    }
}
