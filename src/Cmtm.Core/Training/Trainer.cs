using System.Diagnostics;
using Cmtm.Data.Datasets;
using Cmtm.Data.Sampling;
using Cmtm.IO;
using Cmtm.IO.Checkpoints;
using Cmtm.Model;
using Cmtm.Runtime;
using TorchSharp;
using DeviceType = TorchSharp.DeviceType;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Cmtm.Training;

/// <summary>A progress tick after each optimisation step.</summary>
public readonly record struct TrainTick(int Epoch, int Epochs, int BatchInEpoch, int BatchesPerEpoch, long Step, long TotalSteps,
    double Loss, double Iou, double ItPerSec, TimeSpan Eta);

/// <summary>Receives the trainer's progress (console printer, tests).</summary>
public interface ITrainReporter
{
    void Step(TrainTick tick);
    void Epoch(EpochRecord record, bool validated, bool best);
    void Message(string message);
}

/// <summary>The outcome of <see cref="Trainer.Run"/>.</summary>
public sealed record TrainResult(string RunDir, int CompletedEpochs, long Steps, bool Stopped, double BestScore, int BestEpoch,
    IReadOnlyList<EpochRecord> Records, TimeSpan Elapsed, IReadOnlyList<string> Plots);

/// <summary>
/// The training loop of the official code with resumable, atomic checkpoints: per epoch,
/// SamplesPerEpoch samples drawn by <see cref="TrainSampler"/>, one <see cref="TrainStep.Run"/> per batch (Adam over all
/// parameters), validation every ValEvery epochs (DAVIS 2016 J&amp;F by <see cref="Validation"/>, the masks of the latest
/// one in `val-results/`), checkpoints `last` (every epoch and on stop), `best` (model only, when validation J&amp;F
/// improves) and `epoch_NNNN` (model only, every SaveEvery epochs).
/// A fixed seed gives the same weights on the CPU; a resumed run ends with the same weights as an uninterrupted one.
/// The validation set is opened (and every frame's image, flow and annotation checked) before training starts; a
/// validation that still fails later (an unreadable file, out of memory) is reported in one line and recorded as NaN,
/// and training goes on: a run of hours is not lost to its scoring, and its checkpoints stay resumable.
/// </summary>
public sealed class Trainer : IDisposable
{
    public TrainOptions Options { get; }
    public VosModel Model { get; }
    public SafeAdam Optimizer { get; }
    public TrainSampler Sampler { get; }
    public Device Device { get; }
    public string RunDir { get; }
    private readonly DatasetRecord? val;
    private readonly RunLog log;
    private TrainProgressState state = new();

    /// <summary>Test hook: called after every step with the global step; returning true stops like Ctrl-C.</summary>
    public Func<long, bool>? StopAfterStep { get; set; }

    public Trainer(TrainOptions options, ITrainReporter? reporter = null)
    {
        options.Validate();
        Options = options;
        Device = TorchRuntime.ParseDevice(options.Device);
        TorchRuntime.SetThreads(options.Threads);
        TrainStep.PrepareCpuBackend(Device);
        RunDir = Path.GetFullPath(options.Out);

        var sources = options.Train.Select(spec => TrainingSource.Open(TrainingSource.ParseSpec(spec))).ToList();
        if (options.Val != null)
        {
            var (valRoot, valFlows) = DatasetSpec.SplitFlows(options.Val, "val");
            val = Validation.OpenDavis(valRoot, "val", options.ValSequences, valFlows);
            if (val.SkippedSequences.Count > 0)
                reporter?.Message($"validation: {val.SkippedSequences.Count} listed sequence(s) have no frames in {valRoot} and are not scored ({string.Join(", ", val.SkippedSequences)})");
            reporter?.Message($"validation: {val.Sequences.Count} sequence(s), {val.FrameCount} frames ({string.Join(", ", val.Sequences.Select(q => q.Name))})");
        }

        bool hasLast = File.Exists(TrainCheckpoint.StatePath(RunDir, "last"));
        if (hasLast && !options.Resume)
            throw new CmtmException(RunDir, "run folder already holds a checkpoint; pass --resume to continue it or choose another --out");
        if (!hasLast && options.Resume)
            throw new CmtmException(TrainCheckpoint.StatePath(RunDir, "last"), "--resume given but the run folder has no checkpoint");

        torch.random.manual_seed((long)(options.Seed & 0x7FFFFFFFFFFFFFFF));
        Model = new VosModel(options.ModelConfig());
        Model.to(Device);
        if (options.Init != null && !options.Resume) InitWeights(options.Init, reporter);
        Optimizer = new SafeAdam(Model.parameters(), options.Lr, options.Beta1, options.Beta2, options.Eps);
        Schedule = new LrSchedule(options.LrSchedule, options.Lr, options.TotalSteps, options.WarmupSteps);
        Sampler = new TrainSampler(sources, options.Resolution, new TrainRng(options.Seed), options.CacheData, options.Augmentation());
        log = new RunLog(RunDir);
        if (options.Resume)
        {
            state = TrainCheckpoint.Load(RunDir, "last", Model, Optimizer, Sampler.Rng);
            if (state.EpochPlan.Length > 0) Sampler.RestoreEpoch(state.EpochPlan, state.EpochPosition);
            log.LoadExisting(state.Epoch);
            reporter?.Message($"resumed {RunDir} at epoch {state.Epoch}, step {state.Step}" + (state.EpochPosition > 0 ? $" (+{state.EpochPosition} samples of epoch {state.Epoch + 1})" : ""));
        }
    }

    /// <summary>ImageNet MiT weights for both encoders (NVlabs .pth or HF safetensors), or a stage-1 checkpoint (non-strict).</summary>
    private void InitWeights(string path, ITrainReporter? reporter)
    {
        if (!File.Exists(path)) throw new CmtmException(path, "--init checkpoint not found");
        using var sd = CheckpointReader.Load(path);
        if (sd.Keys.Any(k => k.StartsWith("vos.", StringComparison.Ordinal)))
        {
            var report = ModuleLoader.Load(Model, sd, strict: false, source: path);
            reporter?.Message($"init from stage-1 checkpoint {path}: {report.Loaded.Count} tensors loaded" + (report.Clean ? "" : "; " + report.Describe()));
            return;
        }
        // ImageNet MiT: encoder.* names, loaded into both encoders' backbones
        using var enc = MitKeyMapping.ToEncoder(sd);
        using var both = new StateDict { Source = path };
        foreach (var (k, t) in enc.Items)
        {
            both.Add("vos.app_encoder.backbone." + k, t.clone());
            both.Add("vos.mo_encoder.backbone." + k, t.clone());
        }
        var r = ModuleLoader.Load(Model, both, strict: false, source: path);
        if (r.Unexpected.Count > 0)
            throw new CmtmException(path, $"MiT weights do not fit {Model.Config.Name}: unexpected {string.Join(", ", r.Unexpected.Take(4))}");
        var missingBackbone = r.Missing.Where(k => k.Contains(".backbone.")).ToList();
        if (missingBackbone.Count > 0)
            throw new CmtmException(path, $"MiT weights do not cover the {Model.Config.Backbone.Name} encoder: missing {string.Join(", ", missingBackbone.Take(4))}");
        reporter?.Message($"init from ImageNet MiT {path}: {r.Loaded.Count} tensors into both encoders");
    }

    /// <summary>The learning rate of every step (a function of the global step, so resuming needs no extra state).</summary>
    public LrSchedule Schedule { get; }

    public int BatchesPerEpoch => Options.BatchesPerEpoch;

    /// <summary>
    /// Where the run is, rewritten atomically at the start and after every committed checkpoint: after a crash that .NET
    /// cannot catch (a signal from native code) it says which epoch and step the run had reached and how to resume.
    /// </summary>
    public static string ProgressPath(string runDir) => Path.Combine(runDir, "progress.json");

    /// <summary>Trains to <see cref="TrainOptions.Epochs"/> (or a stop request). Any error is rethrown as a
    /// <see cref="TrainingFailedException"/> that names the epoch and step and how to resume.</summary>
    public TrainResult Run(CancellationToken cancel = default, ITrainReporter? reporter = null)
    {
        try { return RunEpochs(cancel, reporter); }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new TrainingFailedException(RunDir, state.Epoch + 1, state.Step, File.Exists(TrainCheckpoint.StatePath(RunDir, "last")), e);
        }
    }

    private void WriteProgress(bool finished)
    {
        bool hasLast = File.Exists(TrainCheckpoint.StatePath(RunDir, "last"));
        var summary = hasLast
            ? $"{state.Epoch} of {Options.Epochs} epochs complete, {state.Step} steps" + (finished ? ", finished" : $"; checkpoint {TrainCheckpoint.ModelPath(RunDir, "last")}")
            : "started, no checkpoint yet";
        var json = JsonFormat.Serialize(new Dictionary<string, object>
        {
            ["epoch"] = state.Epoch, ["epochs"] = Options.Epochs, ["step"] = state.Step, ["finished"] = finished,
            ["checkpoint"] = hasLast ? TrainCheckpoint.ModelPath(RunDir, "last") : "", ["summary"] = summary,
            ["resume"] = hasLast && !finished ? TrainingFailedException.ResumeCommand(RunDir) : "",
            ["updated"] = DateTime.UtcNow.ToString("o"),
        });
        AtomicFile.WriteAllText(ProgressPath(RunDir), json + "\n");
    }

    private TrainResult RunEpochs(CancellationToken cancel, ITrainReporter? reporter)
    {
        Directory.CreateDirectory(RunDir);
        int stale = AtomicFile.RemoveStaleTemps(RunDir); // a killed run's half-written checkpoints
        if (stale > 0) reporter?.Message($"removed {stale} temporary file(s) of an interrupted save");
        AtomicFile.WriteAllText(Path.Combine(RunDir, "config.json"), Options.ToJson());
        WriteProgress(finished: false);
        var total = Stopwatch.StartNew();
        var rate = Stopwatch.StartNew();
        long stepsThisRun = 0, totalSteps = Options.TotalSteps;
        bool stopped = false;
        Model.train();

        while (state.Epoch < Options.Epochs && !stopped)
        {
            int epoch = state.Epoch + 1;
            if (cancel.IsCancellationRequested && (state.EpochPosition == 0 || Sampler.RemainingInEpoch == 0))
            {
                // a stop at an epoch boundary (Ctrl-C during the last step or the validation of an epoch): drawing the
                // next epoch's plan would advance the sampler's RNG past what `last` records, and the resumed run would
                // draw another plan than an uninterrupted one
                stopped = true;
                SaveLast();
                reporter?.Message($"stopped after epoch {state.Epoch}, step {state.Step}; wrote {TrainCheckpoint.ModelPath(RunDir, "last")}");
                break;
            }
            var epochClock = Stopwatch.StartNew();
            if (state.EpochPosition == 0 || Sampler.RemainingInEpoch == 0)
            {
                Sampler.BeginEpoch(Options.SamplesPerEpoch);
                state = state with { EpochLossSum = 0, EpochIouSum = 0, EpochBatches = 0, EpochPosition = 0 };
            }
            while (Sampler.RemainingInEpoch > 0)
            {
                if (cancel.IsCancellationRequested) { stopped = true; break; }
                StepResult r;
                Schedule.Apply(Optimizer, state.Step);
                // the scope holds the sampler's unnamed intermediate tensors until libtorch is done with them
                using (var scope = NewDisposeScope())
                using (var batch = Sampler.NextBatch(Options.BatchSize, Device))
                    r = TrainStep.Run(Model, Optimizer, batch.Images, batch.Flows, batch.Masks, oneDnnForward: Device.type == DeviceType.CPU);
                if (!double.IsFinite(r.Loss))
                    throw new CmtmException(RunDir, $"loss became {r.Loss} at step {state.Step + 1} (lower --lr?)");
                var (_, pos) = Sampler.EpochState;
                state = state with
                {
                    Step = state.Step + 1, EpochPosition = pos, EpochLossSum = state.EpochLossSum + r.Loss,
                    EpochIouSum = state.EpochIouSum + r.Iou, EpochBatches = state.EpochBatches + 1,
                };
                stepsThisRun++;
                double ips = stepsThisRun / Math.Max(1e-9, rate.Elapsed.TotalSeconds);
                var eta = TimeSpan.FromSeconds((totalSteps - state.Step) / Math.Max(ips, 1e-9));
                reporter?.Step(new TrainTick(epoch, Options.Epochs, state.EpochBatches, BatchesPerEpoch, state.Step, totalSteps, r.Loss, r.Iou, ips, eta));
                if (StopAfterStep?.Invoke(state.Step) == true) { stopped = true; break; }
            }
            if (stopped && Sampler.RemainingInEpoch > 0)
            {
                SaveLast();
                WriteProgress(finished: false);
                reporter?.Message($"stopped at epoch {epoch} ({state.EpochPosition}/{Options.SamplesPerEpoch} samples), step {state.Step}; wrote {TrainCheckpoint.ModelPath(RunDir, "last")}");
                break;
            }
            // epoch complete
            double loss = state.EpochLossSum / Math.Max(1, state.EpochBatches), iou = state.EpochIouSum / Math.Max(1, state.EpochBatches);
            state = state with { Epoch = epoch, EpochPlan = Array.Empty<int>(), EpochPosition = 0, EpochLossSum = 0, EpochIouSum = 0, EpochBatches = 0 };
            ValidationResult? v = null;
            bool best = false;
            if (val != null && (epoch % Options.ValEvery == 0 || epoch == Options.Epochs))
            {
                v = Validate(epoch, reporter, cancel);
                if (v != null && v.JF > state.BestScore)
                {
                    best = true;
                    state = state with { BestScore = v.JF, BestEpoch = epoch };
                    TrainCheckpoint.SaveModel(TrainCheckpoint.ModelPath(RunDir, "best"), Model, state);
                }
            }
            var rec = new EpochRecord(epoch, state.Step, loss, iou, v?.J ?? double.NaN, v?.F ?? double.NaN, v?.JF ?? double.NaN, epochClock.Elapsed.TotalSeconds);
            log.Add(rec);
            if (epoch % Options.SaveEvery == 0)
                TrainCheckpoint.SaveModel(TrainCheckpoint.ModelPath(RunDir, $"epoch_{epoch:D4}"), Model, state);
            SaveLast();
            WriteProgress(finished: state.Epoch >= Options.Epochs);
            reporter?.Epoch(rec, v != null, best);
            if (stopped) reporter?.Message($"stopped after epoch {epoch}; wrote {TrainCheckpoint.ModelPath(RunDir, "last")}");
        }
        var plots = log.Plot();
        return new TrainResult(RunDir, state.Epoch, state.Step, stopped, state.BestScore, state.BestEpoch, log.Records.ToList(), total.Elapsed, plots);
    }

    /// <summary>
    /// Validation of the model after <paramref name="epoch"/>; null (reported in one line) when it fails or when a stop
    /// (Ctrl-C) interrupts it: the epoch's checkpoint is then saved at once with NaN for its validation.
    /// </summary>
    private ValidationResult? Validate(int epoch, ITrainReporter? reporter, CancellationToken cancel)
    {
        try { return Validation.EvaluateModel(Model, val!, Device, Path.Combine(RunDir, "val-results"), cancel); }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            reporter?.Message($"validation after epoch {epoch} interrupted by the stop, recorded as NaN");
            return null;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            reporter?.Message($"validation after epoch {epoch} failed, recorded as NaN; training goes on: {(e is CmtmException ? e.Message : $"{e.GetType().Name}: {e.Message}")}");
            ValidationFailures++;
            return null;
        }
        finally { Model.train(); }
    }

    /// <summary>How many validations failed in this process (each reported and recorded as NaN).</summary>
    public int ValidationFailures { get; private set; }

    private void SaveLast()
    {
        var (plan, pos) = Sampler.EpochState;
        var s = state.EpochPosition == 0 && state.EpochBatches == 0 ? state with { EpochPlan = Array.Empty<int>() } : state with { EpochPlan = plan, EpochPosition = pos };
        TrainCheckpoint.Save(RunDir, "last", Model, Optimizer, Sampler.Rng, s, Options);
    }

    public void Dispose() { Optimizer.Dispose(); Model.Dispose(); }
}
