using System.CommandLine;
using System.Globalization;
using Cmtm.Model;
using Cmtm.Training;

namespace Cmtm.Cli.Commands;

public static class TrainCommand
{
    public static Command Create()
    {
        var config = new Option<string?>("--config") { Description = "run configuration JSON (kebab-case keys as the flags); flags override it" };
        var arch = new Option<string?>("--arch") { Description = "cmtm-b0..b5 or fakeflow-b0..b5 (default cmtm-b2)" };
        var res = new Option<int?>("--resolution") { Description = "model input size, multiple of 32 (default 512)" };
        var train = new Option<string[]>("--train") { Description = "training set KIND=DIR[:SHARE], KIND davis|ytvos|duts|synth (repeatable; DUTS share 3, others 1)", AllowMultipleArgumentsPerToken = false };
        var valOpt = new Option<string?>("--val") { Description = "DAVIS-layout validation root (ImageSets/2016/val.txt)" };
        var valSeq = new Option<int?>("--val-sequences") { Description = "validate on the first N sequences only (0 = all)" };
        var epochs = new Option<int?>("--epochs") { Description = "epochs (default 4000)" };
        var spe = new Option<int?>("--samples-per-epoch") { Description = "samples per epoch (default 512 = 384 DUTS + 128 DAVIS)" };
        var bs = new Option<int?>("--batch-size") { Description = "batch size (default 4)" };
        var lr = new Option<double?>("--lr") { Description = "Adam learning rate (default 1e-5)" };
        var betas = new Option<string?>("--betas") { Description = "Adam betas B1,B2 (default 0.9,0.999)" };
        var eps = new Option<double?>("--eps") { Description = "Adam eps (default 1e-8)" };
        var sched = new Option<string?>("--lr-schedule") { Description = "constant (official, default) or cosine (linear warm-up, cosine decay to 0 over the run)" };
        var warmup = new Option<int?>("--warmup-steps") { Description = "warm-up steps of the cosine schedule (default 0)" };
        var mr = new Option<double?>("--mask-ratio") { Description = "token masking ratio (default 0.2)" };
        var masking = new Option<string?>("--masking") { Description = "joint (official code) or per-modality (paper)" };
        var modEmb = new Option<bool?>("--modality-embedding") { Description = "paper's learnable modality embedding" };
        var dp = new Option<double?>("--drop-path") { Description = "DropPath rate of the encoders (default 0.1)" };
        var seed = new Option<ulong?>("--seed") { Description = "random seed (default 0)" };
        var device = new Option<string?>("--device") { Description = "cpu or cuda[:N]" };
        var threads = new Option<int?>("--threads") { Description = "libtorch threads (0 = default)" };
        var outOpt = new Option<string?>("--out") { Description = "run folder (checkpoints, metrics.csv, plots)" };
        var resume = new Option<bool>("--resume") { Description = "continue the run in --out from its last checkpoint" };
        var init = new Option<string?>("--init") { Description = "initial weights: ImageNet MiT (both encoders) or a stage-1 checkpoint (non-strict)" };
        var valEvery = new Option<int?>("--val-every") { Description = "validate every N epochs (default 100)" };
        var saveEvery = new Option<int?>("--save-every") { Description = "write epoch_NNNN.safetensors every N epochs (default 1000)" };
        var cache = new Option<bool?>("--cache-data") { Description = "keep resized training samples in memory" };

        var cmd = new Command("train", "Train CMTM / FakeFlow (official protocol; resumable, with validation, metrics and plots).")
        { config, arch, res, train, valOpt, valSeq, epochs, spe, bs, lr, betas, eps, sched, warmup, mr, masking, modEmb, dp, seed, device, threads, outOpt, resume, init, valEvery, saveEvery, cache };
        cmd.SetAction(pr =>
        {
            // --resume --out DIR alone continues the run with the options it was started with (DIR/config.json)
            var saved = pr.GetValue(resume) && pr.GetValue(outOpt) is { } od ? Path.Combine(od, "config.json") : null;
            var o = pr.GetValue(config) is { } cf ? TrainOptions.Load(cf)
                : saved != null && File.Exists(saved) ? TrainOptions.Load(saved)
                : new TrainOptions();
            var trainSpecs = pr.GetValue(train);
            double? b1 = null, b2 = null;
            if (pr.GetValue(betas) is { } bt)
            {
                var p = bt.Split(',');
                if (p.Length != 2 || !double.TryParse(p[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var x) || !double.TryParse(p[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var y))
                    throw new CmtmException("--betas", $"'{bt}' is not B1,B2");
                b1 = x; b2 = y;
            }
            o = o with
            {
                Arch = pr.GetValue(arch) ?? o.Arch,
                Resolution = pr.GetValue(res) ?? o.Resolution,
                Train = trainSpecs is { Length: > 0 } ? trainSpecs.ToList() : o.Train,
                Val = pr.GetValue(valOpt) ?? o.Val,
                ValSequences = pr.GetValue(valSeq) ?? o.ValSequences,
                Epochs = pr.GetValue(epochs) ?? o.Epochs,
                SamplesPerEpoch = pr.GetValue(spe) ?? o.SamplesPerEpoch,
                BatchSize = pr.GetValue(bs) ?? o.BatchSize,
                Lr = pr.GetValue(lr) ?? o.Lr,
                Beta1 = b1 ?? o.Beta1, Beta2 = b2 ?? o.Beta2,
                Eps = pr.GetValue(eps) ?? o.Eps,
                LrSchedule = pr.GetValue(sched) is { } ls ? ParseSchedule(ls) : o.LrSchedule,
                WarmupSteps = pr.GetValue(warmup) ?? o.WarmupSteps,
                MaskRatio = pr.GetValue(mr) ?? o.MaskRatio,
                Masking = pr.GetValue(masking) is { } m ? ParseMasking(m) : o.Masking,
                ModalityEmbedding = pr.GetValue(modEmb) ?? o.ModalityEmbedding,
                DropPath = pr.GetValue(dp) ?? o.DropPath,
                Seed = pr.GetValue(seed) ?? o.Seed,
                Device = pr.GetValue(device) ?? o.Device,
                Threads = pr.GetValue(threads) ?? o.Threads,
                Out = pr.GetValue(outOpt) ?? o.Out,
                Resume = pr.GetValue(resume) || o.Resume,
                Init = pr.GetValue(init) ?? o.Init,
                ValEvery = pr.GetValue(valEvery) ?? o.ValEvery,
                SaveEvery = pr.GetValue(saveEvery) ?? o.SaveEvery,
                CacheData = pr.GetValue(cache) ?? o.CacheData,
            };
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
                                 (double.IsFinite(r.BestScore) ? $"; best val J&F {r.BestScore:F3} at epoch {r.BestEpoch}" : ""));
                reporter.Message($"outputs: {r.RunDir} (last.safetensors, metrics.csv{string.Concat(r.Plots.Select(p => ", " + Path.GetFileName(p)))})");
                return r.Stopped ? 130 : 0;
            }
            finally { Console.CancelKeyPress -= onCancel; }
        });
        return cmd;
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
