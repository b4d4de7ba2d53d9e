using System.Text.Json;
using System.Text.Json.Serialization;
using Cmtm.Data.Sampling;
using Cmtm.Model;

namespace Cmtm.Training;

/// <summary>
/// Everything that defines a training run (the JSON of `cmtm train --config`, every field also a flag).
/// Defaults are the official stage-2 settings except where a small machine needs otherwise (resolution, batch).
/// </summary>
public sealed record TrainOptions
{
    public string Arch { get; init; } = "cmtm-b2";
    public int Resolution { get; init; } = 512;
    /// <summary>"KIND=DIR" or "KIND=DIR:SHARE", KIND in davis|ytvos|duts|synth, each optionally followed by ",flows=FLOWDIR"
    /// (the dataset's flow images in FLOWDIR, in the dataset's layout; see <see cref="DatasetSpec"/>).</summary>
    public List<string> Train { get; init; } = new();
    /// <summary>DAVIS-layout validation root (ImageSets/2016/val.txt), optionally followed by ",flows=FLOWDIR", or null for no validation.</summary>
    public string? Val { get; init; }
    /// <summary>Use only the first N validation sequences (0 = all).</summary>
    public int ValSequences { get; init; }
    public int Epochs { get; init; } = 4000;
    public int SamplesPerEpoch { get; init; } = 512;
    public int BatchSize { get; init; } = 4;
    public double Lr { get; init; } = 1e-5;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Eps { get; init; } = 1e-8;
    /// <summary>Constant (official) or cosine decay with linear warm-up over the whole run (Epochs x batches per epoch).</summary>
    [JsonConverter(typeof(JsonStringEnumConverter))]
    public LrScheduleKind LrSchedule { get; init; } = LrScheduleKind.Constant;
    /// <summary>Warm-up steps of the cosine schedule.</summary>
    public int WarmupSteps { get; init; }
    public double MaskRatio { get; init; } = 0.2;
    [JsonConverter(typeof(JsonStringEnumConverter))]
    public MaskingMode Masking { get; init; } = MaskingMode.Joint;
    public bool ModalityEmbedding { get; init; }
    public double DropPath { get; init; } = 0.1;
    public ulong Seed { get; init; } = 0;
    public string Device { get; init; } = "cpu";
    public int Threads { get; init; }
    public string Out { get; init; } = "runs/train";
    /// <summary>Continue the run in <see cref="Out"/> from its `last` checkpoint.</summary>
    public bool Resume { get; init; }
    /// <summary>ImageNet MiT weights (.pth / .safetensors) for both encoders, or a stage-1 checkpoint (non-strict).</summary>
    public string? Init { get; init; }
    public int ValEvery { get; init; } = 100;
    public int SaveEvery { get; init; } = 1000;
    /// <summary>Keep resized training samples in memory (small datasets).</summary>
    public bool CacheData { get; init; }
    /// <summary>Random crop: smallest area fraction of the frame kept (1 = no crop, the official pipeline).</summary>
    public double CropScale { get; init; } = 1.0;
    /// <summary>Colour jitter of the frame: brightness, contrast and saturation factors in 1 ± this (0 = none, official).</summary>
    public double ColorJitter { get; init; }

    /// <summary>Optimisation steps per epoch (the last batch may be smaller).</summary>
    [JsonIgnore]
    public int BatchesPerEpoch => (SamplesPerEpoch + BatchSize - 1) / BatchSize;

    /// <summary>Optimisation steps of the whole run; the length of the cosine schedule.</summary>
    [JsonIgnore]
    public long TotalSteps => (long)Epochs * BatchesPerEpoch;

    /// <summary>The augmentation these options ask for.</summary>
    public Augmentation Augmentation() => new(CropScale, ColorJitter);

    // the project's JSON style (Cmtm.IO.JsonFormat); an unknown key in a config is an error, not ignored
    private static readonly JsonSerializerOptions Json = new(Cmtm.IO.JsonFormat.Options) { UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static TrainOptions FromJson(string json, string source)
    {
        try { return JsonSerializer.Deserialize<TrainOptions>(json, Json) ?? throw new CmtmException(source, "empty configuration"); }
        catch (JsonException e) { throw new CmtmException(source, $"invalid run configuration: {e.Message}"); }
    }

    public static TrainOptions Load(string path)
    {
        if (!File.Exists(path)) throw new CmtmException(path, "configuration file not found");
        return FromJson(File.ReadAllText(path), path);
    }

    public ModelConfig ModelConfig()
    {
        var cfg = Cmtm.Model.ModelConfig.Parse(Arch, Resolution) with
        {
            DropPathRate = DropPath,
            Modulator = new ModulatorOptions { MaskRatio = MaskRatio, Masking = Masking, ModalityEmbedding = ModalityEmbedding },
        };
        cfg.Validate();
        return cfg;
    }

    public void Validate()
    {
        if (Train.Count == 0) throw new CmtmException("train", "at least one training dataset (KIND=DIR) is required");
        foreach (var spec in Train) TrainingSource.ParseSpec(spec);
        if (Val != null) DatasetSpec.SplitFlows(Val, "val");
        if (Epochs < 1) throw new CmtmException("epochs", $"{Epochs} must be at least 1");
        if (SamplesPerEpoch < 1) throw new CmtmException("samples-per-epoch", $"{SamplesPerEpoch} must be at least 1");
        if (BatchSize < 1) throw new CmtmException("batch-size", $"{BatchSize} must be at least 1");
        if (!(Lr > 0)) throw new CmtmException("lr", $"{Lr} must be positive");
        if (Beta1 is < 0 or >= 1 || Beta2 is < 0 or >= 1) throw new CmtmException("betas", $"({Beta1}, {Beta2}) must be in [0, 1)");
        if (!(Eps > 0)) throw new CmtmException("eps", $"{Eps} must be positive");
        if (WarmupSteps < 0) throw new CmtmException("warmup-steps", $"{WarmupSteps} must not be negative");
        if (DropPath is < 0 or >= 1) throw new CmtmException("drop-path", $"{DropPath} must be in [0, 1)");
        if (ValEvery < 1) throw new CmtmException("val-every", $"{ValEvery} must be at least 1");
        if (SaveEvery < 1) throw new CmtmException("save-every", $"{SaveEvery} must be at least 1");
        Augmentation().Validate();
        ModelConfig();
    }
}
