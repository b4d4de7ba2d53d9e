using System.Security.Cryptography;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace Cmtm.Serving;

/// <summary>Where a job is.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<JobState>))]
public enum JobState { Queued, Running, Done, Failed, Cancelled }

/// <summary>What the page asked for.</summary>
public sealed record JobSettings(string Flow, string Precision, string Background, int Feather);

/// <summary>A running job's last progress report.</summary>
public sealed record JobProgress(int Done, int? Total, double Rate, double? EtaSeconds, double Seconds);

/// <summary>
/// One segmentation job as the page sees it (and as job.json keeps it): an id that names its folder (generated,
/// 12 hex digits; nothing the client sends becomes a path), the input's display name, settings, state and timings.
/// </summary>
public sealed record JobInfo
{
    public required string Id { get; init; }
    /// <summary>The uploaded file's name or the sample's, for display only.</summary>
    public required string Name { get; init; }
    public required JobSettings Settings { get; init; }
    public JobState State { get; init; }
    public DateTime Created { get; init; }
    public DateTime? Started { get; init; }
    public DateTime? Finished { get; init; }
    /// <summary>Frames the input declares (videos: the container's count; may be absent).</summary>
    public int? TotalFrames { get; init; }
    /// <summary>Frames written (when done).</summary>
    public int Frames { get; init; }
    public int Width { get; init; }
    public int Height { get; init; }
    /// <summary>Frame rate of the input video (the viewer plays at it).</summary>
    public double Fps { get; init; }
    public double? ModelFps { get; init; }
    public double? EndToEndFps { get; init; }
    public double? Seconds { get; init; }
    public JobProgress? Progress { get; init; }
    /// <summary>Queued jobs: how many jobs run before this one (0 = next).</summary>
    public int? QueuePosition { get; init; }
    public string? Error { get; init; }
    /// <summary>Output stems in frame order (when done): the viewer's frame i is stems[i].</summary>
    public IReadOnlyList<string>? Stems { get; init; }
    /// <summary>Download names available (when done).</summary>
    public IReadOnlyList<string>? Downloads { get; init; }

    private static readonly Regex IdPattern = new("^[0-9a-f]{12}$", RegexOptions.CultureInvariant);

    /// <summary>A new random job id.</summary>
    public static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    /// <summary>True for strings that can be a job id (what a URL may name; anything else is refused before any lookup).</summary>
    public static bool IsId(string? s) => s != null && IdPattern.IsMatch(s);

    [JsonIgnore] public bool IsFinished => State is JobState.Done or JobState.Failed or JobState.Cancelled;
}
