using System.CommandLine;
using System.Globalization;
using Cmtm.Model;
using Cmtm.Training;

namespace Cmtm.Cli.Commands;

/// <summary>
/// `cmtm train`: every field of <see cref="TrainOptions"/> is a flag, declared once below with its default taken from
/// <see cref="TrainOptions"/> (for the help text) and the change it makes. The settings start from a `--config` file,
/// or with `--resume` from the run's own `&lt;out&gt;/config.json`, or from the defaults; the flags given override them.
/// </summary>
public static class TrainCommand
{
    /// <summary>The defaults, as shown in the help.</summary>
    private static readonly TrainOptions Defaults = new();

    /// <summary>One flag: its option and the change a given value makes (nothing when the flag is absent).</summary>
    private sealed record Flag(Option Option, Func<ParseResult, TrainOptions, TrainOptions> Apply);

    public static Command Create()
    {
        var d = Defaults;
        var inv = CultureInfo.InvariantCulture;
        var flags = new List<Flag>();
        Option<T?> Value<T>(string name, string description, Func<TrainOptions, T, TrainOptions> set) where T : struct
        {
            var option = new Option<T?>(name) { Description = description };
            flags.Add(new Flag(option, (pr, o) => pr.GetValue(option) is T v ? set(o, v) : o));
            return option;
        }
        Option<string?> Text(string name, string description, Func<TrainOptions, string, TrainOptions> set)
        {
            var option = new Option<string?>(name) { Description = description };
            flags.Add(new Flag(option, (pr, o) => pr.GetValue(option) is string v ? set(o, v) : o));
            return option;
        }
        string Num(double x) => x is > 0 and < 1e-3 ? x.ToString("0.###e-0", inv) : x.ToString(inv); // 1e-5, not 1E-05

        var config = new Option<string?>("--config") { Description = "run configuration JSON (kebab-case keys as the flags); flags override it" };
        Text("--arch", $"cmtm-b0..b5 or fakeflow-b0..b5 (default {d.Arch})", (o, v) => o with { Arch = v });
        Value<int>("--resolution", $"model input size, multiple of 32 (default {d.Resolution})", (o, v) => o with { Resolution = v });
        var train = new Option<string[]>("--train")
        {
            Description = "training set KIND=DIR[:SHARE][,flows=FLOWDIR], KIND davis|ytvos|duts|synth (repeatable; DUTS share 3, others 1); " +
                          "flows=FLOWDIR reads the flow images from FLOWDIR in the dataset's layout (e.g. FLOWDIR/JPEGFlows/480p, from cmtm flow --dataset ... --flows FLOWDIR) instead of the dataset",
            AllowMultipleArgumentsPerToken = false,
        };
        flags.Add(new Flag(train, (pr, o) => pr.GetValue(train) is { Length: > 0 } t ? o with { Train = t.ToList() } : o));
        Text("--val", "DAVIS-layout validation root (ImageSets/2016/val.txt) ROOT[,flows=FLOWDIR]; sequences without frames are skipped; " +
                      "each validation writes its masks to <out>/val-results", (o, v) => o with { Val = v });
        Value<int>("--val-sequences", $"validate on the first N sequences that have frames (default {d.ValSequences} = all)", (o, v) => o with { ValSequences = v });
        Value<int>("--epochs", $"epochs (default {d.Epochs}); with --resume a larger N extends a finished run, which then ends exactly as an uninterrupted N-epoch run " +
                                  "with the constant schedule; with cosine the remaining steps follow the new, longer decay (the steps taken followed the old one), so it ends elsewhere",
            (o, v) => o with { Epochs = v });
        Value<int>("--samples-per-epoch", $"samples per epoch (default {d.SamplesPerEpoch} = 384 DUTS + 128 DAVIS)", (o, v) => o with { SamplesPerEpoch = v });
        Value<int>("--batch-size", $"batch size (default {d.BatchSize})", (o, v) => o with { BatchSize = v });
        Value<double>("--lr", $"Adam learning rate (default {Num(d.Lr)})", (o, v) => o with { Lr = v });
        Text("--betas", $"Adam betas B1,B2 (default {Num(d.Beta1)},{Num(d.Beta2)})", ParseBetas);
        Value<double>("--eps", $"Adam eps (default {Num(d.Eps)})", (o, v) => o with { Eps = v });
        Text("--lr-schedule", $"constant (official) or cosine (linear warm-up, cosine decay to 0 over the run; default {d.LrSchedule.ToString().ToLowerInvariant()})",
            (o, v) => o with { LrSchedule = ParseSchedule(v) });
        Value<int>("--warmup-steps", $"warm-up steps of the cosine schedule (default {d.WarmupSteps})", (o, v) => o with { WarmupSteps = v });
        Value<double>("--mask-ratio", $"token masking ratio (default {Num(d.MaskRatio)})", (o, v) => o with { MaskRatio = v });
        Text("--masking", "joint (official code, default) or per-modality (paper)", (o, v) => o with { Masking = ParseMasking(v) });
        Value<bool>("--modality-embedding", "paper's learnable modality embedding (default off)", (o, v) => o with { ModalityEmbedding = v });
        Value<double>("--drop-path", $"DropPath rate of the encoders (default {Num(d.DropPath)})", (o, v) => o with { DropPath = v });
        Value<ulong>("--seed", $"random seed (default {d.Seed})", (o, v) => o with { Seed = v });
        Text("--device", $"cpu or cuda[:N] (default {d.Device})", (o, v) => o with { Device = v });
        Value<int>("--threads", $"libtorch threads (default {d.Threads} = libtorch's)", (o, v) => o with { Threads = v });
        var outOpt = Text("--out", $"run folder (checkpoints, config.json, metrics.csv, plots; default {d.Out})", (o, v) => o with { Out = v });
        var resume = new Option<bool>("--resume")
        {
            Description = "continue the run in --out from its last checkpoint with the settings of its config.json; flags given beside it override them " +
                          "(e.g. --epochs N to extend a finished run); not with --config",
        };
        flags.Add(new Flag(resume, (pr, o) => pr.GetValue(resume) ? o with { Resume = true } : o));
        Text("--init", "initial weights: ImageNet MiT (both encoders) or a stage-1 checkpoint (non-strict)", (o, v) => o with { Init = v });
        Value<int>("--val-every", $"validate every N epochs and after the last (default {d.ValEvery})", (o, v) => o with { ValEvery = v });
        Value<int>("--save-every", $"write epoch_NNNN.safetensors every N epochs (default {d.SaveEvery})", (o, v) => o with { SaveEvery = v });
        Value<bool>("--cache-data", "keep resized training samples in memory (default off)", (o, v) => o with { CacheData = v });
        Value<double>("--crop-scale", $"random crop keeping at least this fraction of the frame's area (default {Num(d.CropScale)} = no crop, official)", (o, v) => o with { CropScale = v });
        Value<double>("--color-jitter", $"frame brightness/contrast/saturation jitter, factors in 1 +- this (default {Num(d.ColorJitter)} = none, official)", (o, v) => o with { ColorJitter = v });

        var cmd = new Command("train", "Train CMTM / FakeFlow (official protocol; resumable, with validation, metrics and plots).");
        cmd.Options.Add(config);
        foreach (var f in flags) cmd.Options.Add(f.Option);
        cmd.SetAction(pr =>
        {
            var o = Resolve(pr, config, resume, outOpt, flags, out var saved);
            if (saved != null) NoteResumeChanges(saved, o);
            var reporter = new ConsoleReporter();
            using var cts = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) =>
            {
                if (cts.IsCancellationRequested) return; // second Ctrl-C: default (hard) termination
                e.Cancel = true; cts.Cancel();
                Console.Error.WriteLine("\nstopping after the current step (Ctrl-C again to abort without saving)...");
            };
            Console.CancelKeyPress += onCancel;
            try
            {
                using var trainer = new Trainer(o, reporter);
                reporter.Message($"{o.Arch} at {o.Resolution}px, {trainer.Sampler.Sources.Count} training set(s) " +
                                 $"({string.Join(", ", trainer.Sampler.Sources.Select(s => $"{s.Kind} {s.Videos.Count} videos, share {s.Share}"))}), " +
                                 $"{o.Epochs} epochs x {trainer.BatchesPerEpoch} batches of {o.BatchSize}; run folder {trainer.RunDir}");
                var r = trainer.Run(cts.Token, reporter);
                reporter.Message($"{(r.Stopped ? "stopped" : "finished")}: {r.CompletedEpochs} epochs, {r.Steps} steps in {r.Elapsed.TotalMinutes:F1} min" +
                                 (double.IsFinite(r.BestScore) ? $"; best val J&F {r.BestScore:F3} at epoch {r.BestEpoch}" : "") +
                                 (trainer.ValidationFailures > 0 ? $"; {trainer.ValidationFailures} validation(s) failed (see above)" : ""));
                reporter.Message($"outputs: {r.RunDir} (last.safetensors, metrics.csv{string.Concat(r.Plots.Select(p => ", " + Path.GetFileName(p)))})");
                return r.Stopped ? 130 : 0;
            }
            finally { Console.CancelKeyPress -= onCancel; }
        });
        return cmd;
    }

    /// <summary>
    /// The run's settings: the base (with --resume the run's &lt;out&gt;/config.json, returned in <paramref name="saved"/>;
    /// else the --config file; else the defaults) with every flag given applied on top.
    /// </summary>
    private static TrainOptions Resolve(ParseResult pr, Option<string?> config, Option<bool> resume, Option<string?> outOpt, IReadOnlyList<Flag> flags,
        out TrainOptions? saved)
    {
        saved = null;
        TrainOptions o;
        if (pr.GetValue(resume))
        {
            if (pr.GetValue(config) != null)
                throw new CmtmException("--config", "not with --resume: a resumed run takes its settings from <out>/config.json (flags given beside --resume override them)");
            var dir = pr.GetValue(outOpt) ?? throw new CmtmException("--resume", "needs --out DIR, the folder of the run to continue");
            var path = Path.Combine(dir, "config.json");
            if (!File.Exists(path))
                throw new CmtmException(path, Directory.Exists(dir) ? "--resume: the run folder has no config.json (not a cmtm train run folder?)" : "--resume: the run folder does not exist");
            o = saved = TrainOptions.Load(path);
        }
        else o = pr.GetValue(config) is { } cf ? TrainOptions.Load(cf) : new TrainOptions();
        foreach (var f in flags) o = f.Apply(pr, o);
        if (saved != null)
            foreach (var (flag, before, after) in new[]
                     {
                         ("--arch", saved.Arch, o.Arch), ("--resolution", $"{saved.Resolution}", $"{o.Resolution}"),
                         ("--modality-embedding", $"{saved.ModalityEmbedding}", $"{o.ModalityEmbedding}"),
                     })
                if (!string.Equals(before, after, StringComparison.OrdinalIgnoreCase))
                    throw new CmtmException(flag, $"cannot change on --resume: the run's weights are {saved.Arch} at {saved.Resolution}px (modality embedding {(saved.ModalityEmbedding ? "on" : "off")}); start a new run with --init <out>/last.safetensors instead");
        return o;
    }

    /// <summary>On resume, says what a changed schedule length does to a cosine schedule.</summary>
    private static void NoteResumeChanges(TrainOptions saved, TrainOptions now)
    {
        if (now.LrSchedule == LrScheduleKind.Cosine && (saved.TotalSteps != now.TotalSteps || saved.WarmupSteps != now.WarmupSteps || saved.LrSchedule != now.LrSchedule))
            Console.Error.WriteLine($"note: the cosine schedule now spans {now.TotalSteps} steps (was {saved.TotalSteps}): the learning rate of every step from here on " +
                                    "follows the new length, so this run will not end as an uninterrupted run of that length would (a constant schedule does)");
    }

    private static TrainOptions ParseBetas(TrainOptions o, string text)
    {
        var p = text.Split(',');
        if (p.Length != 2 || !double.TryParse(p[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var b1) || !double.TryParse(p[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var b2))
            throw new CmtmException("--betas", $"'{text}' is not B1,B2");
        return o with { Beta1 = b1, Beta2 = b2 };
    }

    public static LrScheduleKind ParseSchedule(string s) => s.Trim().ToLowerInvariant() switch
    {
        "constant" => LrScheduleKind.Constant,
        "cosine" => LrScheduleKind.Cosine,
        _ => throw new CmtmException("--lr-schedule", $"'{s}' is not constant or cosine"),
    };

    public static MaskingMode ParseMasking(string s) => s.Trim().ToLowerInvariant() switch
    {
        "joint" => MaskingMode.Joint,
        "per-modality" or "permodality" or "paper" => MaskingMode.PerModality,
        _ => throw new CmtmException("--masking", $"'{s}' is not joint or per-modality"),
    };
}
