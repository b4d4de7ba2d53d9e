using System.Globalization;
using Cmtm.Data.Sampling;
using Cmtm.IO.Checkpoints;
using Cmtm.Model;
using Cmtm.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Cmtm.Training;

/// <summary>Where a run stands: completed epochs, position inside the current epoch, global step, best score.</summary>
public sealed record TrainProgressState
{
    public int Epoch { get; init; }                 // completed epochs
    public long Step { get; init; }                 // optimiser steps taken
    public int[] EpochPlan { get; init; } = Array.Empty<int>(); // the current epoch's source order ...
    public int EpochPosition { get; init; }         // ... and how many of it were consumed (0 = at an epoch boundary)
    public double EpochLossSum { get; init; }
    public double EpochIouSum { get; init; }
    public int EpochBatches { get; init; }
    public double BestScore { get; init; } = double.NegativeInfinity;
    public int BestEpoch { get; init; }
}

/// <summary>
/// A training checkpoint: `NAME.safetensors` holds the model state dict exactly as the model names it (loadable for
/// inference, with the model configuration in its metadata); `NAME.train.safetensors` holds the optimiser state
/// (Adam exp_avg / exp_avg_sq per parameter and its step), the sampler RNG, torch's RNG, the epoch plan and progress.
/// Each file is written atomically (temp + rename), but two renames are not atomic as a pair, so a save commits in three
/// steps: (1) the model goes to `NAME.safetensors.pending`, (2) the trainer state replaces `NAME.train.safetensors` (the
/// commit point), (3) the pending model is renamed to `NAME.safetensors`. A process killed at any point leaves either
/// the previous pair (plus perhaps an uncommitted pending model) or the new state with the new model still pending;
/// <see cref="Load"/> completes step 3 in the second case and discards the pending file in the first.
/// </summary>
public static class TrainCheckpoint
{
    public const string Format = "cmtm-train-1";

    public static string ModelPath(string dir, string name) => Path.Combine(dir, name + ".safetensors");
    public static string StatePath(string dir, string name) => Path.Combine(dir, name + ".train.safetensors");
    /// <summary>The model file of a save in progress (complete, but committed only once the trainer state carries its step).</summary>
    public static string PendingModelPath(string dir, string name) => Path.Combine(dir, name + ".safetensors.pending");

    public static Dictionary<string, string> ModelMetadata(ModelConfig cfg, TrainProgressState p) => new()
    {
        ["arch"] = cfg.Name,
        ["resolution"] = cfg.Resolution.ToString(CultureInfo.InvariantCulture),
        ["mask_ratio"] = cfg.Modulator.MaskRatio.ToString("R", CultureInfo.InvariantCulture),
        ["masking"] = cfg.Modulator.Masking.ToString(),
        ["modality_embedding"] = cfg.Modulator.ModalityEmbedding ? "true" : "false",
        ["drop_path"] = cfg.DropPathRate.ToString("R", CultureInfo.InvariantCulture),
        ["epoch"] = p.Epoch.ToString(CultureInfo.InvariantCulture),
        ["step"] = p.Step.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>Saves the model only (best checkpoints, exported weights).</summary>
    public static void SaveModel(string path, VosModel model, TrainProgressState p)
    {
        ModelCheckpoint.Save(path, model, ModelMetadata(model.Config, p));
    }

    public static void Save(string dir, string name, VosModel model, Adam optimizer, TrainRng rng, TrainProgressState p, TrainOptions options)
    {
        var tensors = new List<(string, Tensor)>();
        try
        {
            var names = model.named_parameters().Select(x => x.name).ToList();
            var states = optimizer.state_dict().State;
            if (states.Count != names.Count) throw new InvalidOperationException($"optimizer has {states.Count} parameter states, model {names.Count} parameters");
            var steps = new List<long>();
            for (int i = 0; i < names.Count; i++)
            {
                var st = (Adam.State)states[i];
                steps.Add(st.step);
                tensors.Add(("optim." + names[i] + ".exp_avg", TensorCopies.CpuClone(st.exp_avg)));
                tensors.Add(("optim." + names[i] + ".exp_avg_sq", TensorCopies.CpuClone(st.exp_avg_sq)));
            }
            tensors.Add(("optim.steps", tensor(steps.ToArray())));
            tensors.Add(("epoch_plan", tensor(p.EpochPlan.Select(x => (long)x).ToArray())));
            using var torchRng = torch.random.get_rng_state();
            var meta = new Dictionary<string, string>
            {
                ["format"] = Format,
                ["epoch"] = p.Epoch.ToString(CultureInfo.InvariantCulture),
                ["step"] = p.Step.ToString(CultureInfo.InvariantCulture),
                ["epoch_position"] = p.EpochPosition.ToString(CultureInfo.InvariantCulture),
                ["epoch_loss_sum"] = p.EpochLossSum.ToString("R", CultureInfo.InvariantCulture),
                ["epoch_iou_sum"] = p.EpochIouSum.ToString("R", CultureInfo.InvariantCulture),
                ["epoch_batches"] = p.EpochBatches.ToString(CultureInfo.InvariantCulture),
                ["best_score"] = p.BestScore.ToString("R", CultureInfo.InvariantCulture),
                ["best_epoch"] = p.BestEpoch.ToString(CultureInfo.InvariantCulture),
                ["sampler_rng"] = rng.StateText,
                ["torch_rng"] = Convert.ToBase64String(torchRng.bytes.ToArray()),
                ["options"] = options.ToJson(),
            };
            SaveModel(PendingModelPath(dir, name), model, p);
            KillPoints.Reach("checkpoint model-written");
            SafeTensors.Write(StatePath(dir, name), tensors, meta);
            KillPoints.Reach("checkpoint state-written");
            File.Move(PendingModelPath(dir, name), ModelPath(dir, name), overwrite: true);
        }
        finally { foreach (var (_, t) in tensors) t.Dispose(); }
    }

    /// <summary>
    /// After a crash inside <see cref="Save"/>: a pending model whose step the trainer state carries was committed (finish
    /// the rename); any other pending model belongs to a save that never committed (delete it).
    /// </summary>
    public static void FinishInterruptedSave(string dir, string name)
    {
        var pending = PendingModelPath(dir, name); var sp = StatePath(dir, name);
        if (!File.Exists(pending)) return;
        var committedStep = File.Exists(sp) ? SafeTensors.Describe(sp).Metadata.GetValueOrDefault("step") : null;
        if (committedStep != null && SafeTensors.Describe(pending).Metadata.GetValueOrDefault("step") == committedStep)
            File.Move(pending, ModelPath(dir, name), overwrite: true);
        else File.Delete(pending);
    }

    /// <summary>Restores model, optimiser, RNGs and progress from NAME(.train).safetensors in <paramref name="dir"/>.</summary>
    public static TrainProgressState Load(string dir, string name, VosModel model, Adam optimizer, TrainRng rng)
    {
        var mp = ModelPath(dir, name); var sp = StatePath(dir, name);
        FinishInterruptedSave(dir, name);
        if (!File.Exists(mp)) throw new CmtmException(mp, "checkpoint to resume from not found");
        if (!File.Exists(sp)) throw new CmtmException(sp, "trainer state to resume from not found");
        using var msd = SafeTensors.Read(mp, out var mmeta);
        using var ssd = SafeTensors.Read(sp, out var meta);
        if (!meta.TryGetValue("format", out var f) || f != Format) throw new CmtmException(sp, $"not a {Format} trainer state");
        if (mmeta.GetValueOrDefault("step") != meta["step"])
            throw new CmtmException(mp, $"model step {mmeta.GetValueOrDefault("step")} differs from trainer state step {meta["step"]} (interrupted save?)");
        if (mmeta.GetValueOrDefault("arch") != model.Config.Name)
            throw new CmtmException(mp, $"checkpoint is {mmeta.GetValueOrDefault("arch")}, the run is {model.Config.Name}");
        ModuleLoader.Load(model, msd, strict: true, source: mp);

        var names = model.named_parameters().Select(x => x.name).ToList();
        var states = optimizer.state_dict().State;
        var steps = ssd["optim.steps"].data<long>().ToArray();
        if (steps.Length != names.Count) throw new CmtmException(sp, $"optimizer state has {steps.Length} parameters, the model {names.Count}");
        using (no_grad())
        {
            for (int i = 0; i < names.Count; i++)
            {
                var st = (Adam.State)states[i];
                if (!ssd.TryGet("optim." + names[i] + ".exp_avg", out var m) || !ssd.TryGet("optim." + names[i] + ".exp_avg_sq", out var v))
                    throw new CmtmException(sp, $"optimizer state of {names[i]} missing");
                st.exp_avg.copy_(m); st.exp_avg_sq.copy_(v); st.step = steps[i];
            }
        }
        rng.StateText = meta["sampler_rng"];
        using (var rs = torch.random.get_rng_state())
        {
            var bytes = Convert.FromBase64String(meta["torch_rng"]);
            using var restored = empty(rs.shape, rs.dtype);
            if (bytes.Length != restored.bytes.Length) throw new CmtmException(sp, "torch RNG state has a different size in this libtorch");
            restored.bytes = bytes;
            torch.random.set_rng_state(restored);
        }
        var inv = CultureInfo.InvariantCulture;
        return new TrainProgressState
        {
            Epoch = int.Parse(meta["epoch"], inv), Step = long.Parse(meta["step"], inv),
            EpochPlan = ssd["epoch_plan"].data<long>().Select(x => (int)x).ToArray(),
            EpochPosition = int.Parse(meta["epoch_position"], inv),
            EpochLossSum = double.Parse(meta["epoch_loss_sum"], inv), EpochIouSum = double.Parse(meta["epoch_iou_sum"], inv),
            EpochBatches = int.Parse(meta["epoch_batches"], inv),
            BestScore = double.Parse(meta["best_score"], inv), BestEpoch = int.Parse(meta["best_epoch"], inv),
        };
    }
}
