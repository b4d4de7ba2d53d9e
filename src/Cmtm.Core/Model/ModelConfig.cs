namespace Cmtm.Model;

/// <summary>The two architectures: CMTM (with the token modulator) and its baseline FakeFlow (no modulator).</summary>
public enum Architecture { Cmtm, FakeFlow }

/// <summary>How token masking draws the masked set (training only).</summary>
public enum MaskingMode
{
    /// <summary>Official code (default): one random subset of floor-complement size over the joint 2N tokens.</summary>
    Joint,
    /// <summary>Paper text: each modality masked independently with the same ratio.</summary>
    PerModality,
}

/// <summary>Which token streams the modulator sees (the paper's ablation versions).</summary>
public enum ModulatorStreams { Both, AppearanceOnly, MotionOnly }

/// <summary>Mix Transformer (SegFormer encoder) hyper-parameters, as NVlabs / HF nvidia/mit-bX.</summary>
public sealed record MitConfig(string Name, int[] Dims, int[] Depths, int[] Heads, int[] SrRatios, int MlpRatio = 4)
{
    public static readonly int[] PatchSizes = { 7, 3, 3, 3 };
    public static readonly int[] Strides = { 4, 2, 2, 2 };

    public static MitConfig B0 { get; } = new("b0", new[] { 32, 64, 160, 256 }, new[] { 2, 2, 2, 2 }, new[] { 1, 2, 5, 8 }, new[] { 8, 4, 2, 1 });
    public static MitConfig B1 { get; } = new("b1", new[] { 64, 128, 320, 512 }, new[] { 2, 2, 2, 2 }, new[] { 1, 2, 5, 8 }, new[] { 8, 4, 2, 1 });
    public static MitConfig B2 { get; } = new("b2", new[] { 64, 128, 320, 512 }, new[] { 3, 4, 6, 3 }, new[] { 1, 2, 5, 8 }, new[] { 8, 4, 2, 1 });
    public static MitConfig B3 { get; } = new("b3", new[] { 64, 128, 320, 512 }, new[] { 3, 4, 18, 3 }, new[] { 1, 2, 5, 8 }, new[] { 8, 4, 2, 1 });
    public static MitConfig B4 { get; } = new("b4", new[] { 64, 128, 320, 512 }, new[] { 3, 8, 27, 3 }, new[] { 1, 2, 5, 8 }, new[] { 8, 4, 2, 1 });
    public static MitConfig B5 { get; } = new("b5", new[] { 64, 128, 320, 512 }, new[] { 3, 6, 40, 3 }, new[] { 1, 2, 5, 8 }, new[] { 8, 4, 2, 1 });

    public static IReadOnlyList<MitConfig> All { get; } = new[] { B0, B1, B2, B3, B4, B5 };

    public static MitConfig Parse(string name) =>
        All.FirstOrDefault(c => c.Name == name.ToLowerInvariant().Replace("mit-", "").Replace("mit", ""))
        ?? throw new CmtmException("arch", $"unknown backbone '{name}' (expected b0..b5)");
}

/// <summary>Options of the CMTM module. Defaults are the official code's.</summary>
public sealed record ModulatorOptions
{
    /// <summary>Fraction of tokens replaced by the mask token in training (official code 0.2; paper's best ablation 0.4).</summary>
    public double MaskRatio { get; init; } = 0.2;
    public MaskingMode Masking { get; init; } = MaskingMode.Joint;
    /// <summary>Paper text: a learnable additive embedding per modality (absent from the official code).</summary>
    public bool ModalityEmbedding { get; init; }
    public ModulatorStreams Streams { get; init; } = ModulatorStreams.Both;
    public int Depth { get; init; } = 4;
    public int Heads { get; init; } = 16;
    public int MlpRatio { get; init; } = 4;
}

/// <summary>A complete model description: architecture, backbone, model resolution and options.</summary>
public sealed record ModelConfig
{
    public Architecture Architecture { get; init; } = Architecture.Cmtm;
    public MitConfig Backbone { get; init; } = MitConfig.B2;
    /// <summary>Square model input size in pixels (a multiple of 32; official 512).</summary>
    public int Resolution { get; init; } = 512;
    public ModulatorOptions Modulator { get; init; } = new();
    /// <summary>Stochastic depth rate of both encoders (official 0.1; active only in training mode).</summary>
    public double DropPathRate { get; init; } = 0.1;

    /// <summary>"cmtm-b2", "fakeflow-b0", ...</summary>
    public string Name => $"{(Architecture == Architecture.Cmtm ? "cmtm" : "fakeflow")}-{Backbone.Name}";

    /// <summary>Modulator width = stage-3 width of the backbone (320 official for b1/b2; 160 for b0).</summary>
    public int ModulatorDim => Backbone.Dims[2];
    /// <summary>Side of the stride-16 token grid.</summary>
    public int TokenGrid => Resolution / 16;
    public int TokensPerModality => TokenGrid * TokenGrid;

    public void Validate()
    {
        if (Resolution < 32 || Resolution % 32 != 0)
            throw new CmtmException("resolution", $"{Resolution} is not a positive multiple of 32");
        if (Modulator.MaskRatio is < 0 or >= 1)
            throw new CmtmException("mask-ratio", $"{Modulator.MaskRatio} must be in [0, 1)");
        if (ModulatorDim % Modulator.Heads != 0)
            throw new CmtmException("modulator", $"dim {ModulatorDim} is not divisible by {Modulator.Heads} heads");
    }

    /// <summary>Parses "cmtm-b0" / "fakeflow-b2" (case-insensitive).</summary>
    public static ModelConfig Parse(string arch, int resolution = 512)
    {
        var parts = arch.Trim().ToLowerInvariant().Split('-', 2);
        if (parts.Length != 2) throw new CmtmException("arch", $"'{arch}' is not of the form cmtm-bN or fakeflow-bN");
        var a = parts[0] switch
        {
            "cmtm" => Architecture.Cmtm,
            "fakeflow" => Architecture.FakeFlow,
            _ => throw new CmtmException("arch", $"unknown architecture '{parts[0]}' (expected cmtm or fakeflow)"),
        };
        var cfg = new ModelConfig { Architecture = a, Backbone = MitConfig.Parse(parts[1]), Resolution = resolution };
        cfg.Validate();
        return cfg;
    }
}
