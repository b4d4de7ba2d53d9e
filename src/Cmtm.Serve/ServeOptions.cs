using System.Net;

namespace Cmtm.Serving;

/// <summary>Settings of `cmtm serve`.</summary>
public sealed record ServeOptions
{
    /// <summary>Address to listen on: an IP address or <c>localhost</c>; anything but loopback exposes the page (a warning is printed).</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>TCP port; 0 = a free port chosen by the system (see <see cref="ServeHost.Url"/>).</summary>
    public int Port { get; init; } = 8080;
    /// <summary>Checkpoint for every job; null = the shipped model.</summary>
    public string? Weights { get; init; }
    /// <summary>RAFT checkpoint; when set, the page offers the raft flow method.</summary>
    public string? RaftWeights { get; init; }
    /// <summary>Work folder: one sub-folder per job (generated names), kept below <see cref="MaxWorkBytes"/>.</summary>
    public string WorkDir { get; init; } = Path.Combine(Path.GetTempPath(), "cmtm-serve");
    /// <summary>Largest accepted upload; a larger one gets 413.</summary>
    public long MaxUploadBytes { get; init; } = 200L << 20;
    /// <summary>Size cap of the work folder: finished jobs are removed, oldest first, until it fits.</summary>
    public long MaxWorkBytes { get; init; } = 2L << 30;
    /// <summary>libtorch intra-op threads (0 = libtorch's default).</summary>
    public int Threads { get; init; }
    /// <summary>Folder of extra sample videos offered on the page (besides the repository's demo clip); null = none.</summary>
    public string? SamplesDir { get; init; }
    /// <summary>How often a running job reports progress.</summary>
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromSeconds(0.5);

    /// <summary>The address to bind; a <see cref="CmtmException"/> for anything that is not an IP address or localhost.</summary>
    public IPAddress Address => Host.Equals("localhost", StringComparison.OrdinalIgnoreCase) ? IPAddress.Loopback
        : IPAddress.TryParse(Host, out var a) ? a
        : throw new CmtmException("--host", $"'{Host}' is not an IP address (e.g. 127.0.0.1, 0.0.0.0) or localhost");

    /// <summary>True when <see cref="Host"/> is reachable from other machines (not a loopback address).</summary>
    public bool Exposed => !IPAddress.IsLoopback(Address);

    /// <summary>The line `cmtm serve --host` prints when the page is reachable from other machines.</summary>
    public string ExposedWarning =>
        $"warning: serving on {Host}: anyone who can reach this machine on port {Port} can upload videos, run jobs on its CPU and download their outputs (there is no authentication)";
}
