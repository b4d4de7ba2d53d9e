using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Cmtm.Serving;
using Cmtm.Tests.Support;

namespace Cmtm.Tests.Serving;

/// <summary>A `cmtm serve` server on a free loopback port with its own work folder, and a client for it.</summary>
public sealed class TestServer : IAsyncDisposable
{
    private readonly Shared.TempDir dir;
    public ServeHost Host { get; }
    public HttpClient Http { get; }
    public string WorkDir => Host.Jobs.WorkDir;

    private TestServer(ServeHost host, Shared.TempDir dir)
    {
        this.dir = dir;
        Host = host;
        Http = new HttpClient { BaseAddress = host.Url, Timeout = TimeSpan.FromSeconds(60) };
    }

    /// <param name="configure">changes to the test defaults (free port, a temporary work folder, 2 threads, progress every 0.2 s).</param>
    public static async Task<TestServer> StartAsync(Func<ServeOptions, ServeOptions>? configure = null)
    {
        var dir = new Shared.TempDir();
        var options = new ServeOptions { Port = 0, WorkDir = Path.Combine(dir.Path, "work"), Threads = 2, ProgressInterval = TimeSpan.FromSeconds(0.2) };
        return new TestServer(await ServeHost.StartAsync(configure?.Invoke(options) ?? options), dir);
    }

    /// <summary>POST /api/jobs with an upload (<paramref name="name"/>, <paramref name="bytes"/>) or a sample id.</summary>
    public Task<HttpResponseMessage> SubmitAsync(string? name = null, byte[]? bytes = null, string? sample = null, string background = "blur")
    {
        var form = new MultipartFormDataContent();
        if (bytes != null) form.Add(new ByteArrayContent(bytes), "file", name!);
        if (sample != null) form.Add(new StringContent(sample), "sample");
        form.Add(new StringContent("farneback"), "flow");
        form.Add(new StringContent("fp32"), "precision");
        form.Add(new StringContent(background), "background");
        form.Add(new StringContent("0"), "feather");
        return Http.PostAsync("api/jobs", form);
    }

    public async Task<JobInfo> JobAsync(string id) => (await Http.GetFromJsonAsync<JobInfo>($"api/jobs/{id}", Json))!;

    /// <summary>Polls the job until <paramref name="until"/> holds (or fails the test after <paramref name="seconds"/>).</summary>
    public async Task<JobInfo> WaitAsync(string id, Func<JobInfo, bool> until, int seconds = 120)
    {
        var end = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var job = await JobAsync(id);
            if (until(job)) return job;
            if (DateTime.UtcNow > end) throw new TimeoutException($"job {id} still {job.State} after {seconds} s: {JsonSerializer.Serialize(job, Json)}");
            await Task.Delay(100);
        }
    }

    public static readonly JsonSerializerOptions Json = EventHub.Json;

    public static async Task<string> ErrorOf(HttpResponseMessage r) => JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString()!;

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Host.DisposeAsync();
        dir.Dispose();
    }
}

/// <summary>`cmtm serve`'s API: size limit, content check, cancel, path traversal, queue, work-folder cap.</summary>
[Collection("Console")]
public class ServeApiTests
{
    [Fact]
    public async Task OversizedUploadGets413WithAMessageAndKeepsNothing()
    {
        await using var s = await TestServer.StartAsync(o => o with { MaxUploadBytes = 100_000 });
        var r = await s.SubmitAsync("big.mp4", new byte[300_000]);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, r.StatusCode);
        Assert.Equal("the upload is larger than this server's limit of 97.7 KB (cmtm serve --max-upload-mb)", await TestServer.ErrorOf(r));
        Assert.Empty(Directory.EnumerateFileSystemEntries(s.WorkDir));
    }

    [Fact]
    public async Task NonVideoGets415WithTheDecodersReasonAndKeepsNothing()
    {
        await using var s = await TestServer.StartAsync();
        var text = "this is not a video, just text\n"u8.ToArray();
        var r = await s.SubmitAsync("notes.mp4", text);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, r.StatusCode);
        Assert.Equal("notes.mp4: cannot open video (corrupt, without frames, or an unsupported container/codec)", await TestServer.ErrorOf(r));
        var png = File.ReadAllBytes(DemoClipData.Mask(0)); // FFmpeg opens an image as a one-frame stream: refused too
        r = await s.SubmitAsync("frame.webm", png);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, r.StatusCode);
        Assert.Equal("frame.webm: only 1 frame decodes: not a video (an image?)", await TestServer.ErrorOf(r));
        r = await s.SubmitAsync("notes.txt", text);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, r.StatusCode);
        Assert.Empty(Directory.EnumerateFileSystemEntries(s.WorkDir));
        Assert.Empty(await s.Http.GetFromJsonAsync<JobInfo[]>("api/jobs", TestServer.Json) ?? []);
    }

    [Fact]
    public async Task PathTraversalNamesAreRefused()
    {
        await using var s = await TestServer.StartAsync();
        var outside = Path.Combine(Path.GetDirectoryName(s.WorkDir)!, "evil.mp4");
        var r = await s.SubmitAsync("../evil.mp4", File.ReadAllBytes(DemoClipData.Frame(0)));
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        Assert.Equal("the file name must be a plain file name (no folders, no '..')", await TestServer.ErrorOf(r));
        Assert.False(File.Exists(outside));
        Assert.Empty(Directory.EnumerateFileSystemEntries(s.WorkDir));

        // a finished job of an earlier server, to aim at: its own files other than the downloads are not served either
        var id = "0123456789ab";
        Directory.CreateDirectory(Path.Combine(s.WorkDir, id));
        foreach (var url in new[]
        {
            "api/jobs/..%2F..%2Fetc%2Fpasswd", "api/jobs/../../etc/passwd", "api/jobs/%2e%2e/download/masks.zip",
            $"api/jobs/{id}/download/..%2Fjob.json", $"api/jobs/{id}/download/job.json", $"api/jobs/{id}/frames/..%2F..%2Fjob.json/0",
            "api", "api/jobs/..", "Page/index.html", "work", ".git/config", "app.js/../../etc/passwd",
        })
        {
            var g = await s.Http.GetAsync(url);
            Assert.True(g.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.BadRequest or HttpStatusCode.MethodNotAllowed, $"{url}: {g.StatusCode}");
            Assert.DoesNotContain("root:", await g.Content.ReadAsStringAsync());
        }
        Assert.Equal(HttpStatusCode.OK, (await s.Http.GetAsync("/")).StatusCode);
    }

    /// <summary>The event stream itself (the page's only source of progress): a snapshot first, then the job's states
    /// and progress in order, ending with Done - read as a client reads it, without polling.</summary>
    [Fact]
    public async Task TheEventStreamCarriesAJobFromQueuedThroughProgressToDone()
    {
        await using var s = await TestServer.StartAsync();
        using var stream = await s.Http.GetStreamAsync("api/events");
        using var reader = new StreamReader(stream);
        async Task<(string Event, string Data)> NextAsync()
        {
            string? name = null;
            while (true)
            {
                var line = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(120)) ?? throw new EndOfStreamException("the event stream ended");
                if (line.StartsWith("event: ")) name = line["event: ".Length..];
                else if (line.StartsWith("data: ") && name != null) return (name, line["data: ".Length..]);
            }
        }
        Assert.Equal(("jobs", "[]"), await NextAsync()); // the snapshot comes first

        var sample = Assert.Single(s.Host.Samples).Id;
        var submitted = (await (await s.SubmitAsync(sample: sample)).Content.ReadFromJsonAsync<JobInfo>(TestServer.Json))!;
        var states = new List<JobState>();
        var progress = new List<int>();
        while (true)
        {
            var (name, data) = await NextAsync();
            if (name != "job") continue;
            var job = JsonSerializer.Deserialize<JobInfo>(data, TestServer.Json)!;
            Assert.Equal(submitted.Id, job.Id);
            if (states.Count == 0 || states[^1] != job.State) states.Add(job.State);
            if (job.Progress is { } p) progress.Add(p.Done);
            if (job.State is JobState.Done or JobState.Failed or JobState.Cancelled) break;
        }
        Assert.Equal(JobState.Done, states[^1]);
        Assert.Contains(JobState.Running, states);
        Assert.NotEmpty(progress);
        Assert.Equal(progress.Order(), progress); // in order
        Assert.Equal(50, (await s.JobAsync(submitted.Id)).Frames);
    }

    [Fact]
    public async Task CancelMidRunMarksTheJobCancelledAndRemovesItsPartialOutputs()
    {
        await using var s = await TestServer.StartAsync();
        var sample = Assert.Single(s.Host.Samples).Id; // the committed blackswan clip, 50 frames: long enough to cancel mid-run
        var first = (await (await s.SubmitAsync(sample: sample)).Content.ReadFromJsonAsync<JobInfo>(TestServer.Json))!;
        var second = (await (await s.SubmitAsync(sample: sample, background: "green")).Content.ReadFromJsonAsync<JobInfo>(TestServer.Json))!;

        // one job at a time: the second waits, first in the queue
        var running = await s.WaitAsync(first.Id, j => j.Progress is { Done: >= 1 });
        Assert.Equal(JobState.Running, running.State);
        var waiting = await s.JobAsync(second.Id);
        Assert.Equal((JobState.Queued, 0), (waiting.State, waiting.QueuePosition));

        // cancel the queued one, then the running one mid-run
        Assert.Equal(HttpStatusCode.Accepted, (await s.Http.PostAsync($"api/jobs/{second.Id}/cancel", null)).StatusCode);
        Assert.Equal(JobState.Cancelled, (await s.JobAsync(second.Id)).State);
        Assert.Equal(HttpStatusCode.Accepted, (await s.Http.PostAsync($"api/jobs/{first.Id}/cancel", null)).StatusCode);
        var cancelled = await s.WaitAsync(first.Id, j => j.State != JobState.Running);
        Assert.Equal(JobState.Cancelled, cancelled.State);
        Assert.InRange(cancelled.Progress?.Done ?? 0, 0, 49);
        foreach (var id in new[] { first.Id, second.Id })
            Assert.Equal(["job.json"], Directory.EnumerateFileSystemEntries(Path.Combine(s.WorkDir, id)).Select(Path.GetFileName));
        Assert.Equal(HttpStatusCode.NotFound, (await s.Http.GetAsync($"api/jobs/{first.Id}/download/masks.zip")).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await s.Http.PostAsync($"api/jobs/{first.Id}/cancel", null)).StatusCode);
    }

    [Fact]
    public async Task TheWorkFolderCapRemovesTheOldestFinishedJobsFirst()
    {
        using var d = new Shared.TempDir();
        var work = Directory.CreateDirectory(d.File("work")).FullName;
        var ids = new[] { "aaaaaaaaaaa1", "aaaaaaaaaaa2", "aaaaaaaaaaa3" };
        for (var k = 0; k < ids.Length; k++)
        {
            var dir = Directory.CreateDirectory(Path.Combine(work, ids[k])).FullName;
            var job = new JobInfo { Id = ids[k], Name = $"clip{k}.mp4", Settings = new JobSettings("farneback", "fp32", "blur", 0), State = JobState.Done, Created = new DateTime(2026, 1, 1).AddHours(k) };
            File.WriteAllText(Path.Combine(dir, "job.json"), JsonSerializer.Serialize(job, TestServer.Json));
            File.WriteAllBytes(Path.Combine(dir, "masks.zip"), new byte[100_000]);
        }
        Directory.CreateDirectory(Path.Combine(work, "bbbbbbbbbbbb")); // a job that never finished (no job.json): removed
        Directory.CreateDirectory(Path.Combine(work, "keep-me"));      // not a job folder: never touched
        await using var s = await TestServer.StartAsync(o => o with { WorkDir = work, MaxWorkBytes = 250_000 });
        Assert.Equal(["aaaaaaaaaaa2", "aaaaaaaaaaa3", "keep-me"], Directory.GetDirectories(work).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(["aaaaaaaaaaa3", "aaaaaaaaaaa2"], s.Host.Jobs.List().Select(j => j.Id));
    }

    [Theory]
    [InlineData("127.0.0.1", false)]
    [InlineData("localhost", false)]
    [InlineData("::1", false)]
    [InlineData("0.0.0.0", true)]
    public void OnlyLoopbackIsPrivate(string host, bool exposed) => Assert.Equal(exposed, new ServeOptions { Host = host }.Exposed);

    [Fact]
    public void AHostNameIsANamedError()
    {
        var e = Assert.Throws<CmtmException>(() => new ServeOptions { Host = "example.org" }.Address);
        Assert.Equal("--host: 'example.org' is not an IP address (e.g. 127.0.0.1, 0.0.0.0) or localhost", e.Message);
    }
}
