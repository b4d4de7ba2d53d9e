using System.IO.Compression;
using System.Text.Json;
using System.Threading.Channels;
using Cmtm.Inference;
using Cmtm.IO;
using Cmtm.Model;
using Cmtm.Runtime;

namespace Cmtm.Serving;

/// <summary>
/// The jobs of `cmtm serve`: one runs at a time (the CPU is the limit), the others wait in order. Each job has a
/// folder &lt;work&gt;/&lt;id&gt;/ holding its input (uploads only), out/ (what `cmtm segment --overlay --cutout
/// --background` writes, through <see cref="SegmentRun"/>, plus frames/), the zips and job.json. A cancelled or failed
/// job keeps only job.json; finished jobs are removed oldest first when the folder exceeds its cap. Every change is
/// published on the <see cref="EventHub"/>.
/// </summary>
public sealed class JobQueue : IAsyncDisposable
{
    /// <summary>Downloads of a finished job: name -> path inside the job folder (fixed; the client only picks a name).</summary>
    public static readonly IReadOnlyDictionary<string, string> DownloadFiles = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["masks.zip"] = "masks.zip",
        ["overlay.mp4"] = "out/overlay.mp4",
        ["cutout.zip"] = "cutout.zip",
        ["composite.mp4"] = "out/composite.mp4",
    };

    /// <summary>Viewer images of a finished job: kind -> (folder inside out/, extension).</summary>
    public static readonly IReadOnlyDictionary<string, (string Folder, string Ext)> FrameKinds = new Dictionary<string, (string, string)>(StringComparer.Ordinal)
    {
        ["original"] = ("frames", ".jpg"),
        ["overlay"] = ("overlay", ".jpg"),
        ["cutout"] = ("cutout", ".png"),
        ["mask"] = ("", ".png"),
    };

    private readonly ServeOptions options;
    private readonly EventHub events;
    private readonly Action<string> log;
    private readonly object gate = new();
    private readonly Dictionary<string, JobInfo> jobs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Input, CancellationTokenSource Cancel)> pending = new(StringComparer.Ordinal);
    private readonly Channel<string> queue = Channel.CreateUnbounded<string>();
    private readonly CancellationTokenSource stopping = new();
    private readonly Task worker;

    public string WorkDir { get; }

    public JobQueue(ServeOptions options, EventHub events, Action<string> log)
    {
        this.options = options;
        this.events = events;
        this.log = log;
        WorkDir = Path.GetFullPath(options.WorkDir);
        Directory.CreateDirectory(WorkDir);
        LoadFinished();
        EnforceCap();
        worker = Task.Factory.StartNew(Work, TaskCreationOptions.LongRunning).Unwrap();
    }

    /// <summary>All jobs, newest first, with queue positions.</summary>
    public IReadOnlyList<JobInfo> List()
    {
        lock (gate) return jobs.Values.OrderByDescending(j => j.Created).ThenBy(j => j.Id, StringComparer.Ordinal).ToList();
    }

    public JobInfo? Get(string id)
    {
        lock (gate) return jobs.GetValueOrDefault(id);
    }

    /// <summary>The folder of job <paramref name="id"/> (an id checked with <see cref="JobInfo.IsId"/>).</summary>
    public string JobDir(string id) => JobInfo.IsId(id) ? Path.Combine(WorkDir, id) : throw new ArgumentException($"not a job id: {id}");

    /// <summary>A new job folder with a fresh id (for an upload to be written into before <see cref="Enqueue"/>).</summary>
    public string NewJobDir(out string id)
    {
        id = JobInfo.NewId();
        return Directory.CreateDirectory(JobDir(id)).FullName;
    }

    /// <summary>Queues a job on <paramref name="input"/> (a file in its folder, or a sample).</summary>
    public JobInfo Enqueue(string id, string name, string input, JobSettings settings, int? totalFrames, int width, int height, double fps)
    {
        var job = new JobInfo
        {
            Id = id, Name = name, Settings = settings, State = JobState.Queued, Created = DateTime.UtcNow,
            TotalFrames = totalFrames, Width = width, Height = height, Fps = fps,
        };
        lock (gate)
        {
            jobs[id] = job;
            pending[id] = (input, new CancellationTokenSource());
        }
        Save(job);
        queue.Writer.TryWrite(id);
        PublishQueue();
        return Get(id)!;
    }

    /// <summary>Cancels a queued or running job; false if it is not (any more) queued or running.</summary>
    public bool Cancel(string id)
    {
        lock (gate)
        {
            if (!pending.TryGetValue(id, out var p)) return false;
            p.Cancel.Cancel();
            if (jobs[id].State == JobState.Queued) Finish(id, JobState.Cancelled, null);
            return true;
        }
    }

    private async Task Work()
    {
        try
        {
            await foreach (var id in queue.Reader.ReadAllAsync(stopping.Token))
            {
                (string Input, CancellationTokenSource Cancel) p;
                lock (gate)
                {
                    if (!pending.TryGetValue(id, out p) || p.Cancel.IsCancellationRequested) continue;
                    Update(id, j => j with { State = JobState.Running, Started = DateTime.UtcNow, QueuePosition = null });
                }
                PublishQueue();
                Run(id, p.Input, p.Cancel.Token);
            }
        }
        catch (OperationCanceledException) { }
    }

    private void Run(string id, string input, CancellationToken cancel)
    {
        var job = Get(id)!;
        var dir = JobDir(id);
        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancel, stopping.Token);
            var progress = new ProgressLine("segment", r =>
            {
                Update(id, j => j with { Progress = new JobProgress(r.Done, r.Total, r.Rate, r.EtaSeconds, r.Seconds) });
            }) { Interval = options.ProgressInterval };
            var s = job.Settings;
            var summary = SegmentRun.Run(new SegmentRequest
            {
                Input = input,
                Weights = options.Weights,
                Flow = s.Flow,
                RaftWeights = options.RaftWeights,
                Precision = Precisions.Parse(s.Precision),
                Output = new SegmentOptions
                {
                    OutputDir = Path.Combine(dir, "out"),
                    Overlay = true,
                    FrameImages = true,
                    Cutout = new CutoutOptions { Rgba = true, Feather = s.Feather, Background = CutoutBackground.Parse(s.Background) },
                },
            }, say: log, note: log, progress, linked.Token);
            var outDir = Path.Combine(dir, "out");
            WriteZip(Path.Combine(dir, "masks.zip"), Directory.GetFiles(outDir, "*.png"));
            WriteZip(Path.Combine(dir, "cutout.zip"), Directory.GetFiles(Path.Combine(outDir, "cutout"), "*.png"));
            var stems = Directory.GetFiles(outDir, "*.png").Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal).ToList();
            lock (gate)
            {
                Update(id, j => j with
                {
                    Frames = summary.Frames, ModelFps = summary.ModelFps, EndToEndFps = summary.EndToEndFps, Seconds = summary.TotalSeconds,
                    Stems = stems!, Downloads = DownloadFiles.Where(d => File.Exists(Path.Combine(dir, d.Value))).Select(d => d.Key).ToList(),
                });
                Finish(id, JobState.Done, null);
            }
        }
        catch (OperationCanceledException)
        {
            lock (gate) Finish(id, JobState.Cancelled, null);
        }
        catch (Exception e)
        {
            var message = e is CmtmException ce ? ce.Message.Replace(dir + Path.DirectorySeparatorChar, "") : $"internal error: {e.GetType().Name}: {e.Message}";
            log($"job {id} failed: {e.Message}");
            lock (gate) Finish(id, JobState.Failed, message);
        }
        EnforceCap();
    }

    /// <summary>Ends a job (under the lock): state, time, and for anything but Done its files are removed (job.json stays).</summary>
    private void Finish(string id, JobState state, string? error)
    {
        if (pending.Remove(id, out var p)) p.Cancel.Dispose();
        var job = Update(id, j => j with { State = state, Finished = DateTime.UtcNow, Error = error, QueuePosition = null, Progress = state == JobState.Done ? j.Progress : null });
        if (state != JobState.Done) RemoveOutputs(id);
        Save(job);
        PublishQueue();
    }

    /// <summary>Everything in the job's folder except job.json (a cancelled or failed job's partial outputs and input).</summary>
    private void RemoveOutputs(string id)
    {
        var dir = JobDir(id);
        if (!Directory.Exists(dir)) return;
        foreach (var e in Directory.EnumerateFileSystemEntries(dir))
        {
            if (Path.GetFileName(e) == "job.json") continue;
            try { if (Directory.Exists(e)) Directory.Delete(e, recursive: true); else File.Delete(e); }
            catch (Exception x) when (x is IOException or UnauthorizedAccessException) { log($"job {id}: cannot remove {e}: {x.Message}"); }
        }
    }

    private JobInfo Update(string id, Func<JobInfo, JobInfo> change)
    {
        JobInfo job;
        lock (gate) jobs[id] = job = change(jobs[id]);
        events.Publish("job", job);
        return job;
    }

    /// <summary>Recomputes the queue positions and publishes the changed jobs.</summary>
    private void PublishQueue()
    {
        lock (gate)
        {
            var waiting = jobs.Values.Where(j => j.State == JobState.Queued).OrderBy(j => j.Created).ToList();
            for (var k = 0; k < waiting.Count; k++)
                if (waiting[k].QueuePosition != k) Update(waiting[k].Id, j => j with { QueuePosition = k });
        }
    }

    private void Save(JobInfo job)
    {
        var dir = JobDir(job.Id);
        if (Directory.Exists(dir)) AtomicFile.WriteAllText(Path.Combine(dir, "job.json"), JsonSerializer.Serialize(job, EventHub.Json));
    }

    private static void WriteZip(string path, IEnumerable<string> files) => AtomicFile.Write(path, s =>
    {
        using var zip = new ZipArchive(s, ZipArchiveMode.Create, leaveOpen: true);
        foreach (var f in files.Order(StringComparer.Ordinal)) zip.CreateEntryFromFile(f, Path.GetFileName(f), CompressionLevel.Fastest);
    });

    /// <summary>
    /// Jobs that finished in an earlier server (folders named by an id with a job.json); folders of jobs that never
    /// finished are removed. Nothing else in the work folder is touched.
    /// </summary>
    private void LoadFinished()
    {
        foreach (var dir in Directory.EnumerateDirectories(WorkDir))
        {
            var id = Path.GetFileName(dir);
            if (!JobInfo.IsId(id)) continue;
            JobInfo? job = null;
            try { job = JsonSerializer.Deserialize<JobInfo>(File.ReadAllText(Path.Combine(dir, "job.json")), EventHub.Json); }
            catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException) { }
            if (job is { IsFinished: true } && job.Id == id) { jobs[id] = job; continue; }
            try { Directory.Delete(dir, recursive: true); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    /// <summary>Removes finished jobs, oldest first, until the work folder is within <see cref="ServeOptions.MaxWorkBytes"/>.</summary>
    public void EnforceCap()
    {
        List<JobInfo> removed = [];
        lock (gate)
        {
            long total = jobs.Keys.Sum(id => FolderBytes(JobDir(id)));
            foreach (var job in jobs.Values.Where(j => j.IsFinished).OrderBy(j => j.Created).ToList())
            {
                if (total <= options.MaxWorkBytes) break;
                var dir = JobDir(job.Id);
                var size = FolderBytes(dir);
                try { Directory.Delete(dir, recursive: true); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { log($"cannot remove {dir}: {e.Message}"); continue; }
                total -= size;
                jobs.Remove(job.Id);
                removed.Add(job);
            }
        }
        foreach (var job in removed)
        {
            log($"work folder above {options.MaxWorkBytes / (1 << 20)} MB: removed job {job.Id} ({job.Name})");
            events.Publish("removed", new { id = job.Id });
        }
    }

    private static long FolderBytes(string dir) =>
        Directory.Exists(dir) ? new DirectoryInfo(dir).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length) : 0;

    public async ValueTask DisposeAsync()
    {
        stopping.Cancel();
        queue.Writer.TryComplete();
        try { await worker; } catch (OperationCanceledException) { }
        stopping.Dispose();
    }
}
