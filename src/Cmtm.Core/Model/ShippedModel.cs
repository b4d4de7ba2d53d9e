namespace Cmtm.Model;

/// <summary>
/// The model that ships with CMTM.NET (<c>models/cmtm-davis16-cpu.safetensors</c>, model card <c>models/README.md</c>),
/// used by `segment`, `predict`, `evaluate` and `demo` when no <c>--weights</c> is given. Looked up in this order:
/// the file named by the environment variable <c>CMTM_MODEL</c> (which must then exist), <c>models/</c> beside the
/// executable (the CLI project copies the repository's <c>models/*.safetensors</c> to its output), the repository's
/// <c>models/</c> folder found by walking up from the executable's folder.
/// </summary>
public static class ShippedModel
{
    public const string FileName = "cmtm-davis16-cpu.safetensors";
    public const string RepositoryPath = "models/" + FileName;
    public const string EnvironmentVariable = "CMTM_MODEL";

    /// <summary>A located model file and whether <c>CMTM_MODEL</c> named it.</summary>
    public sealed record Location(string Path, bool FromEnvironment);

    /// <summary>The checkpoint a command uses: <see cref="Path"/>, and <see cref="Shipped"/> when it is the shipped model.</summary>
    public sealed record Choice(string Path, Location? Shipped)
    {
        /// <summary>The line to print when the shipped model is used (null for a checkpoint given with --weights).</summary>
        public string? UsingLine(ModelConfig config) => Shipped is null ? null : ShippedModel.UsingLine(Shipped, config);
    }

    /// <summary><paramref name="weights"/> when given (--weights), else the shipped model (<see cref="Locate()"/>).</summary>
    public static Choice Choose(string? weights)
    {
        if (weights != null) return new Choice(System.IO.Path.GetFullPath(weights), null);
        var shipped = Locate();
        return new Choice(shipped.Path, shipped);
    }

    /// <summary>The shipped model for this process (environment and executable folder of the running app).</summary>
    public static Location Locate() => Locate(Environment.GetEnvironmentVariable(EnvironmentVariable), AppContext.BaseDirectory);

    /// <summary>
    /// The shipped model given a <c>CMTM_MODEL</c> value (null or empty = unset) and the executable's folder; a
    /// <see cref="CmtmException"/> (one line, naming what was looked for) when there is none.
    /// </summary>
    public static Location Locate(string? environmentValue, string baseDirectory)
    {
        if (!string.IsNullOrEmpty(environmentValue))
        {
            var p = Path.GetFullPath(environmentValue);
            return File.Exists(p) ? new Location(p, true)
                : throw new CmtmException(p, $"{EnvironmentVariable} names a model file that does not exist (unset it to use the shipped model, or pass --weights)");
        }
        return FindBesideAppOrInRepository(RepositoryPath, baseDirectory, file: true) is string found
            ? new Location(found, false)
            : throw new CmtmException(RepositoryPath, "no shipped model found (looked beside the executable and in the repository's models/ folder); " +
                $"pass --weights W (any CMTM/FakeFlow checkpoint) or set {EnvironmentVariable}=FILE");
    }

    /// <summary>
    /// A file (or, with <paramref name="file"/> false, a folder) at <paramref name="relative"/> ('/'-separated) below
    /// <paramref name="baseDirectory"/> or below one of its parents (the first, nearest, wins); null if none.
    /// The executable's own folder comes first, so a copy beside it wins over the repository's.
    /// </summary>
    public static string? FindBesideAppOrInRepository(string relative, string? baseDirectory = null, bool file = true)
    {
        var parts = relative.Split('/');
        for (var d = new DirectoryInfo(baseDirectory ?? AppContext.BaseDirectory); d != null; d = d.Parent)
        {
            var p = Path.Combine([d.FullName, .. parts]);
            if (file ? File.Exists(p) : Directory.Exists(p)) return p;
        }
        return null;
    }

    /// <summary>The one line the commands print (on stderr) when they use the shipped model.</summary>
    public static string UsingLine(Location location, ModelConfig config) => location.FromEnvironment
        ? $"using the model {location.Path} from {EnvironmentVariable} ({config.Name} at {config.Resolution} px); --weights takes any checkpoint"
        : $"using the shipped model {RepositoryPath} ({config.Name} at {config.Resolution} px; see models/README.md); --weights takes any checkpoint";
}
