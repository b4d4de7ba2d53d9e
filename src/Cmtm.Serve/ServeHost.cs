using System.Reflection;
using Cmtm.Flow;
using Cmtm.Inference;
using Cmtm.Model;
using Cmtm.Runtime;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Cmtm.Serving;

/// <summary>
/// `cmtm serve`: a local web page (ASP.NET Core, Kestrel) to upload a video or pick a sample, watch the job's progress
/// (server-sent events), cancel it, view original / overlay / cut-out frames and download the outputs.
/// <para>Routes (nothing else is served; no static-file or directory-listing middleware):
/// <c>GET /</c>, <c>/app.js</c>, <c>/app.css</c> (embedded); <c>GET /api/info</c>; <c>GET /api/events</c> (SSE);
/// <c>GET /api/jobs</c>; <c>POST /api/jobs</c> (multipart: <c>file</c> or <c>sample</c>, <c>flow</c>,
/// <c>precision</c>, <c>background</c>, <c>feather</c>); <c>GET /api/jobs/{id}</c>; <c>POST /api/jobs/{id}/cancel</c>;
/// <c>GET /api/jobs/{id}/frames/{kind}/{index}</c>; <c>GET /api/jobs/{id}/download/{name}</c>.</para>
/// <para>Safety: ids are generated (12 hex digits) and checked before any lookup; files inside a job folder are
/// reached only through fixed names (<see cref="JobQueue.DownloadFiles"/>, <see cref="JobQueue.FrameKinds"/>) and a
/// frame index; an upload above the limit gets 413, one whose name carries a path 400, one the decoder cannot open 415
/// with the decoder's reason, and its folder is removed.</para>
/// </summary>
public sealed class ServeHost : IAsyncDisposable
{
    private readonly WebApplication app;

    /// <summary>The page's address (with the actual port when <see cref="ServeOptions.Port"/> was 0).</summary>
    public Uri Url { get; }
    public JobQueue Jobs { get; }
    public ServeOptions Options { get; }
    /// <summary>The samples offered on the page.</summary>
    public IReadOnlyList<Sample> Samples { get; }

    private ServeHost(WebApplication app, Uri url, JobQueue jobs, ServeOptions options, IReadOnlyList<Sample> samples)
    {
        this.app = app; Url = url; Jobs = jobs; Options = options; Samples = samples;
    }

    /// <summary>Starts the server (it runs until disposed); <paramref name="log"/> receives job lines.</summary>
    public static async Task<ServeHost> StartAsync(ServeOptions o, Action<string>? log = null)
    {
        log ??= _ => { };
        var address = o.Address;
        if (o.MaxUploadBytes <= 0) throw new CmtmException("--max-upload-mb", "must be positive");
        if (o.MaxWorkBytes <= 0) throw new CmtmException("--max-work-mb", "must be positive");
        if (o.RaftWeights != null && !File.Exists(o.RaftWeights)) throw new CmtmException(o.RaftWeights, "RAFT checkpoint not found");
        var model = ShippedModel.Choose(o.Weights); // fails now, not in the first job, when there is no model
        if (!File.Exists(model.Path)) throw new CmtmException(model.Path, "checkpoint not found");
        TorchRuntime.SetThreads(o.Threads);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(address, o.Port);
            k.Limits.MaxRequestBodySize = o.MaxUploadBytes + (1 << 20); // room for the form fields; the handler enforces the limit itself
        });
        builder.Services.Configure<FormOptions>(f => { f.MultipartBodyLengthLimit = o.MaxUploadBytes + (1 << 20); });
        var app = builder.Build();
        var events = new EventHub();
        var jobs = new JobQueue(o, events, log);
        var samples = Inputs.FindSamples(o.SamplesDir);
        var modelName = Path.GetFileName(model.Path);
        Map(app, o, jobs, events, samples, modelName);
        try { await app.StartAsync(); }
        catch (IOException e) { await jobs.DisposeAsync(); throw new CmtmException($"{o.Host}:{o.Port}", $"cannot listen ({e.Message})", e); }
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var port = new Uri(bound).Port;
        var shownHost = address.Equals(System.Net.IPAddress.Any) ? "127.0.0.1" : o.Host.Contains(':') ? $"[{o.Host}]" : o.Host;
        return new ServeHost(app, new Uri($"http://{shownHost}:{port}/"), jobs, o, samples);
    }

    private static void Map(WebApplication app, ServeOptions o, JobQueue jobs, EventHub events, IReadOnlyList<Sample> samples, string modelName)
    {
        app.Use(async (ctx, next) =>
        {
            ctx.Response.Headers.XContentTypeOptions = "nosniff";
            ctx.Response.Headers["Content-Security-Policy"] = "default-src 'self'; img-src 'self' blob: data:; style-src 'self'";
            ctx.Response.Headers["Referrer-Policy"] = "no-referrer";
            await next();
        });
        app.MapGet("/", () => Page("index.html", "text/html; charset=utf-8"));
        app.MapGet("/app.js", () => Page("app.js", "text/javascript; charset=utf-8"));
        app.MapGet("/app.css", () => Page("app.css", "text/css; charset=utf-8"));

        string[] methods = o.RaftWeights != null ? [.. FlowEstimators.Methods] : ["farneback"];
        app.MapGet("/api/info", () => Results.Json(new
        {
            model = modelName,
            flows = methods,
            precisions = new[] { "fp32", "bf16" },
            backgrounds = new[] { "blur", "green", "white", "black" },
            samples = samples.Select(s => new { s.Id, s.Title }),
            maxUploadBytes = o.MaxUploadBytes,
            maxWorkBytes = o.MaxWorkBytes,
            uploadExtensions = Inputs.UploadExtensions,
        }, EventHub.Json));

        app.MapGet("/api/events", async (HttpContext ctx, Microsoft.Extensions.Hosting.IHostApplicationLifetime life) =>
        {
            using var until = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, life.ApplicationStopping);
            ctx.Response.ContentType = "text/event-stream";
            ctx.Response.Headers.CacheControl = "no-cache";
            ctx.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            await events.StreamAsync(ctx.Response.Body, () => $"event: jobs\ndata: {System.Text.Json.JsonSerializer.Serialize(jobs.List(), EventHub.Json)}\n\n", until.Token);
        });

        app.MapGet("/api/jobs", () => Results.Json(jobs.List(), EventHub.Json));
        app.MapGet("/api/jobs/{id}", (string id) => JobInfo.IsId(id) && jobs.Get(id) is JobInfo j ? Results.Json(j, EventHub.Json) : NotFound("no such job"));
        app.MapPost("/api/jobs/{id}/cancel", (string id) =>
            !JobInfo.IsId(id) || jobs.Get(id) is null ? NotFound("no such job")
            : jobs.Cancel(id) ? Results.Json(jobs.Get(id), EventHub.Json, statusCode: 202)
            : Error(409, "the job is not queued or running"));

        app.MapGet("/api/jobs/{id}/frames/{kind}/{index:int}", (string id, string kind, int index) =>
        {
            if (!JobInfo.IsId(id) || jobs.Get(id) is not { State: JobState.Done, Stems: { } stems }) return NotFound("no such finished job");
            if (!JobQueue.FrameKinds.TryGetValue(kind, out var k)) return NotFound("no such image kind");
            if (index < 0 || index >= stems.Count) return NotFound("no such frame");
            var file = Path.Combine(jobs.JobDir(id), "out", k.Folder, stems[index] + k.Ext);
            return File.Exists(file) ? Results.File(file, k.Ext == ".png" ? "image/png" : "image/jpeg") : NotFound("no such image");
        });
        app.MapGet("/api/jobs/{id}/download/{name}", (string id, string name) =>
        {
            if (!JobInfo.IsId(id) || jobs.Get(id) is not { State: JobState.Done }) return NotFound("no such finished job");
            if (!JobQueue.DownloadFiles.TryGetValue(name, out var relative)) return NotFound("no such download");
            var file = Path.Combine(jobs.JobDir(id), relative);
            return File.Exists(file) ? Results.File(file, name.EndsWith(".zip") ? "application/zip" : "video/mp4", $"{id}-{name}") : NotFound("no such download");
        });

        app.MapPost("/api/jobs", (Func<HttpContext, Task<IResult>>)(ctx => Submit(ctx, o, jobs, samples, methods))).DisableAntiforgery();
    }

    private static async Task<IResult> Submit(HttpContext ctx, ServeOptions o, JobQueue jobs, IReadOnlyList<Sample> samples, string[] methods)
    {
        var tooLarge = $"the upload is larger than this server's limit of {Mb(o.MaxUploadBytes)} (cmtm serve --max-upload-mb)";
        if (ctx.Request.ContentLength > o.MaxUploadBytes) return Error(413, tooLarge);
        if (!ctx.Request.HasFormContentType) return Error(400, "expected a multipart form (file or sample, flow, precision, background, feather)");
        IFormCollection form;
        try { form = await ctx.Request.ReadFormAsync(ctx.RequestAborted); }
        catch (BadHttpRequestException e) when (e.StatusCode == 413) { return Error(413, tooLarge); }
        catch (InvalidDataException e) when (e.Message.Contains("limit", StringComparison.OrdinalIgnoreCase)) { return Error(413, tooLarge); }

        // settings: only the listed values (a background image path from the client is not accepted)
        var flow = form["flow"].FirstOrDefault() ?? "farneback";
        if (!methods.Contains(flow)) return Error(400, $"flow must be one of {string.Join(", ", methods)}");
        var precision = form["precision"].FirstOrDefault() ?? "fp32";
        if (precision is not ("fp32" or "bf16")) return Error(400, "precision must be fp32 or bf16");
        var background = form["background"].FirstOrDefault() ?? "blur";
        CutoutBackground bg;
        try { bg = CutoutBackground.Parse(background, "background"); }
        catch (CmtmException e) { return Error(400, e.Message); }
        if (bg.Kind == BackgroundKind.Image) return Error(400, "background must be blur or a colour");
        var featherText = form["feather"].FirstOrDefault() ?? "0";
        if (!int.TryParse(featherText, out var feather) || feather is < 0 or > 50) return Error(400, "feather must be a whole number of pixels from 0 to 50");
        var settings = new JobSettings(flow, precision, background, feather);

        var file = form.Files.GetFile("file");
        var sampleId = form["sample"].FirstOrDefault();
        if (file == null)
        {
            if (string.IsNullOrEmpty(sampleId)) return Error(400, "choose a video file or a sample");
            var sample = samples.FirstOrDefault(s => s.Id == sampleId);
            if (sample == null) return Error(400, "no such sample");
            InputProbe sp;
            try { sp = Inputs.Probe(sample.Path); }
            catch (CmtmException e) { return Error(500, $"sample {sample.Title}: {e.Problem}"); }
            jobs.NewJobDir(out var sid); // holds the outputs and job.json; the sample itself is read where it is
            return Results.Json(jobs.Enqueue(sid, sample.Title, sample.Path, settings, sp.Frames, sp.Width, sp.Height, sp.Fps), EventHub.Json, statusCode: 202);
        }

        // the client's file name is only displayed: it must be a plain name with a video extension; the stored file is input.<ext>
        var name = file.FileName;
        if (string.IsNullOrWhiteSpace(name) || name.Contains('/') || name.Contains('\\') || name.Contains("..") || name.Any(char.IsControl) || name.Length > 255)
            return Error(400, "the file name must be a plain file name (no folders, no '..')");
        var ext = Path.GetExtension(name).ToLowerInvariant();
        if (!Inputs.UploadExtensions.Contains(ext))
            return Error(415, $"{name}: not a video file name (accepted: {string.Join(", ", Inputs.UploadExtensions)})");
        if (file.Length > o.MaxUploadBytes) return Error(413, tooLarge);
        if (file.Length == 0) return Error(415, $"{name}: the file is empty");

        var dir = jobs.NewJobDir(out var id);
        var input = Path.Combine(dir, "input" + ext);
        try
        {
            await using (var fs = new FileStream(input, FileMode.CreateNew, FileAccess.Write))
                await file.CopyToAsync(fs, ctx.RequestAborted);
            var probe = Inputs.Probe(input);
            return Results.Json(jobs.Enqueue(id, name, input, settings, probe.Frames, probe.Width, probe.Height, probe.Fps), EventHub.Json, statusCode: 202);
        }
        catch (Exception e)
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
            if (e is CmtmException ce) return Error(415, $"{name}: {ce.Problem}"); // the decoder's reason, without the server's path
            throw;
        }
    }

    private static string Mb(long bytes) => bytes >= 1 << 20 ? $"{bytes / (double)(1 << 20):0.#} MB" : $"{bytes / 1024.0:0.#} KB";

    private static IResult Error(int status, string message) => Results.Json(new { error = message }, EventHub.Json, statusCode: status);
    private static IResult NotFound(string message) => Error(404, message);

    private static IResult Page(string name, string contentType)
    {
        using var s = Assembly.GetExecutingAssembly().GetManifestResourceStream("Page/" + name) ?? throw new InvalidOperationException($"page resource {name} missing");
        using var m = new MemoryStream();
        s.CopyTo(m);
        return Results.Bytes(m.ToArray(), contentType);
    }

    /// <summary>Runs until <paramref name="cancel"/> (e.g. Ctrl-C).</summary>
    public async Task WaitAsync(CancellationToken cancel)
    {
        try { await Task.Delay(Timeout.Infinite, cancel); } catch (OperationCanceledException) { }
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await Jobs.DisposeAsync();
        await app.DisposeAsync();
    }
}
