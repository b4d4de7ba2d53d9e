using System.CommandLine;
using Cmtm.Serving;

namespace Cmtm.Cli.Commands;

/// <summary>`cmtm serve`: the local web page (upload or sample, progress, cancel, viewer, downloads) until Ctrl-C.</summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var defaults = new ServeOptions();
        var host = new Option<string>("--host") { Description = "address to listen on (default 127.0.0.1, this machine only; 0.0.0.0 exposes the page to the network, with a warning)", DefaultValueFactory = _ => defaults.Host };
        var port = new Option<int>("--port") { Description = "TCP port (0 = any free port)", DefaultValueFactory = _ => defaults.Port };
        var weights = CommonOptions.Weights();
        var raftWeights = new Option<string?>("--raft-weights") { Description = "RAFT checkpoint: when given, the page offers the raft flow method" };
        var work = new Option<string>("--work") { Description = "work folder: one sub-folder per job (default: <temp>/cmtm-serve)", DefaultValueFactory = _ => defaults.WorkDir };
        var maxUpload = new Option<int>("--max-upload-mb") { Description = "largest accepted upload in MB (larger: 413)", DefaultValueFactory = _ => (int)(defaults.MaxUploadBytes >> 20) };
        var maxWork = new Option<int>("--max-work-mb") { Description = "size cap of the work folder in MB; finished jobs are removed oldest first", DefaultValueFactory = _ => (int)(defaults.MaxWorkBytes >> 20) };
        var samples = new Option<string?>("--samples") { Description = "folder of video files offered as samples (besides the repository's demo clip)" };
        var threads = CommonOptions.Threads();
        var cmd = new Command("serve", "A local web page: upload a video, watch the masks appear, view and download overlays and cut-outs.")
        { host, port, weights, raftWeights, work, maxUpload, maxWork, samples, threads };
        cmd.SetAction(r =>
        {
            var options = new ServeOptions
            {
                Host = r.GetValue(host)!, Port = r.GetValue(port), Weights = r.GetValue(weights)?.FullName, RaftWeights = r.GetValue(raftWeights),
                WorkDir = r.GetValue(work)!, MaxUploadBytes = (long)r.GetValue(maxUpload) << 20, MaxWorkBytes = (long)r.GetValue(maxWork) << 20,
                SamplesDir = r.GetValue(samples), Threads = r.GetValue(threads),
            };
            if (options.Exposed) Console.Error.WriteLine(options.ExposedWarning);
            using var stop = new CancellationTokenSource();
            Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
            using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
            var server = ServeHost.StartAsync(options, line => Console.Error.WriteLine(line)).GetAwaiter().GetResult();
            Console.WriteLine($"cmtm serve: {server.Url} (work folder {server.Jobs.WorkDir}; Ctrl-C stops)");
            server.WaitAsync(stop.Token).GetAwaiter().GetResult();
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            Console.WriteLine("cmtm serve: stopped");
            return 0;
        });
        return cmd;
    }
}
