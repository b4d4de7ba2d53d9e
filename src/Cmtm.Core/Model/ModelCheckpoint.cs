using System.Text.Json;
using System.Text.Json.Nodes;
using Cmtm.IO.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace Cmtm.Model;

/// <summary>
/// Model checkpoints: reads official CMTM / FakeFlow `.pth` files (keys `vos.*`, optionally `module.`-wrapped) and our
/// own safetensors files (same keys, with the model configuration as JSON under the `cmtm.config` metadata entry);
/// detects the architecture from keys and shapes; writes our format atomically.
/// </summary>
public static class ModelCheckpoint
{
    public const string ConfigMetadataKey = "cmtm.config";
    private const string EncoderPrefix = "vos.app_encoder.backbone.encoder.";

    /// <summary>The configuration as a small JSON object (stored with our checkpoints, printed by `cmtm inspect`).</summary>
    public static string ConfigToJson(ModelConfig c) => new JsonObject
    {
        ["arch"] = c.Name,
        ["resolution"] = c.Resolution,
        ["mask_ratio"] = c.Modulator.MaskRatio,
        ["masking"] = c.Modulator.Masking == MaskingMode.Joint ? "joint" : "per-modality",
        ["modality_embedding"] = c.Modulator.ModalityEmbedding,
        ["streams"] = c.Modulator.Streams switch { ModulatorStreams.AppearanceOnly => "appearance", ModulatorStreams.MotionOnly => "motion", _ => "both" },
        ["modulator_depth"] = c.Modulator.Depth,
        ["modulator_heads"] = c.Modulator.Heads,
        ["drop_path_rate"] = c.DropPathRate,
    }.ToJsonString();

    public static ModelConfig ConfigFromJson(string json, string source)
    {
        try
        {
            var o = JsonNode.Parse(json)!.AsObject();
            var cfg = ModelConfig.Parse(o["arch"]!.GetValue<string>(), o["resolution"]!.GetValue<int>());
            var m = cfg.Modulator;
            return cfg with
            {
                DropPathRate = o["drop_path_rate"]?.GetValue<double>() ?? cfg.DropPathRate,
                Modulator = m with
                {
                    MaskRatio = o["mask_ratio"]?.GetValue<double>() ?? m.MaskRatio,
                    Masking = (o["masking"]?.GetValue<string>() ?? "joint") == "per-modality" ? MaskingMode.PerModality : MaskingMode.Joint,
                    ModalityEmbedding = o["modality_embedding"]?.GetValue<bool>() ?? false,
                    Streams = (o["streams"]?.GetValue<string>() ?? "both") switch
                    {
                        "appearance" => ModulatorStreams.AppearanceOnly,
                        "motion" => ModulatorStreams.MotionOnly,
                        _ => ModulatorStreams.Both,
                    },
                    Depth = o["modulator_depth"]?.GetValue<int>() ?? m.Depth,
                    Heads = o["modulator_heads"]?.GetValue<int>() ?? m.Heads,
                },
            };
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException or FormatException)
        {
            throw new CmtmException(source, $"invalid {ConfigMetadataKey} metadata ({e.Message})", e);
        }
    }

    /// <summary>Reads a checkpoint into a StateDict with official key names (strips a DataParallel `module.` prefix) and its stored config, if any.</summary>
    public static (StateDict State, ModelConfig? StoredConfig) Read(string path)
    {
        StateDict sd;
        ModelConfig? stored = null;
        if (CheckpointReader.DetectFormat(path) == CheckpointFormat.SafeTensors)
        {
            sd = SafeTensors.Read(path, out var meta);
            if (meta.TryGetValue(ConfigMetadataKey, out var json)) stored = ConfigFromJson(json, path);
        }
        else sd = CheckpointReader.Load(path);
        if (sd.Count > 0 && sd.Keys.All(k => k.StartsWith("module.", StringComparison.Ordinal)))
        {
            var stripped = new StateDict { Source = sd.Source };
            foreach (var k in sd.Keys.ToList()) stripped.Add(k["module.".Length..], sd.Remove(k)!);
            sd.Dispose();
            sd = stripped;
        }
        return (sd, stored);
    }

    /// <summary>Detects architecture, backbone and (CMTM) resolution from official key names and shapes.</summary>
    public static ModelConfig Detect(StateDict sd, int? resolution = null)
    {
        if (!sd.ContainsKey(EncoderPrefix + "patch_embeddings.0.proj.weight"))
        {
            var hint = sd.Keys.Any(k => k.StartsWith("patch_embed1.") || k.StartsWith("segformer.") || k.StartsWith("encoder."))
                ? " (this looks like an ImageNet MiT encoder checkpoint: use it with `cmtm train --init`)"
                : sd.Keys.Any(k => k.StartsWith("fnet.") || k.StartsWith("module.fnet.")) ? " (this looks like a RAFT optical-flow checkpoint)" : "";
            throw new CmtmException(sd.Source, $"not a CMTM/FakeFlow checkpoint: no '{EncoderPrefix}patch_embeddings.0.proj.weight'{hint}");
        }
        var dims = new int[4];
        var depths = new int[4];
        for (int i = 0; i < 4; i++)
        {
            var key = EncoderPrefix + $"patch_embeddings.{i}.proj.weight";
            if (!sd.TryGet(key, out var w)) throw new CmtmException(sd.Source, $"missing key '{key}'");
            dims[i] = (int)w.shape[0];
            var prefix = EncoderPrefix + $"block.{i}.";
            depths[i] = sd.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal))
                .Select(k => int.TryParse(k[prefix.Length..].Split('.')[0], out var j) ? j + 1 : 0).DefaultIfEmpty(0).Max();
        }
        var backbone = MitConfig.All.FirstOrDefault(c => c.Dims.SequenceEqual(dims) && c.Depths.SequenceEqual(depths))
            ?? throw new CmtmException(sd.Source, $"unknown MiT backbone (dims {string.Join(",", dims)}, depths {string.Join(",", depths)})");
        bool cmtm = sd.Keys.Any(k => k.StartsWith("vos.modulator.", StringComparison.Ordinal));
        int res = resolution ?? 512;
        var modulator = new ModulatorOptions();
        if (cmtm)
        {
            if (sd.TryGet("vos.modulator.pos_embed", out var pos) && resolution is null)
            {
                int grid = (int)Math.Round(Math.Sqrt(pos.shape[1]));
                if (grid * grid == pos.shape[1]) res = grid * 16;
            }
            int depth = sd.Keys.Where(k => k.StartsWith("vos.modulator.blocks.", StringComparison.Ordinal))
                .Select(k => int.TryParse(k["vos.modulator.blocks.".Length..].Split('.')[0], out var j) ? j + 1 : 0).DefaultIfEmpty(0).Max();
            modulator = modulator with { Depth = depth, ModalityEmbedding = sd.ContainsKey("vos.modulator.app_modality_embed") };
        }
        var cfg = new ModelConfig
        {
            Architecture = cmtm ? Architecture.Cmtm : Architecture.FakeFlow,
            Backbone = backbone,
            Resolution = res,
            Modulator = modulator,
        };
        cfg.Validate();
        return cfg;
    }

    /// <summary>
    /// Builds a model for a checkpoint and loads it strictly. <paramref name="arch"/> "auto" (or null) uses the stored or
    /// detected architecture; any other value must agree with the checkpoint. <paramref name="resolution"/> overrides the
    /// model resolution; CMTM's fixed sin-cos position table is then recomputed for the new token grid.
    /// </summary>
    public static VosModel Load(string path, string? arch = null, int? resolution = null, Device? device = null, Action<string>? note = null)
    {
        var (sd, stored) = Read(path);
        using (sd)
        {
            var detected = stored ?? Detect(sd, resolution);
            if (resolution is int r) detected = detected with { Resolution = r };
            if (!string.IsNullOrEmpty(arch) && !arch.Equals("auto", StringComparison.OrdinalIgnoreCase))
            {
                var wanted = ModelConfig.Parse(arch, detected.Resolution);
                if (wanted.Name != detected.Name)
                    throw new CmtmException(path, $"checkpoint holds a {detected.Name} model but --arch {arch} was requested");
            }
            detected.Validate();
            var model = new VosModel(detected);
            if (sd.TryGet("vos.modulator.pos_embed", out var pos) && model.Modulator != null)
            {
                var ours = model.state_dict()["vos.modulator.pos_embed"];
                if (!pos.shape.SequenceEqual(ours.shape))
                {
                    var tokens = pos.shape[1]; // read before the tensor is disposed
                    sd.Remove("vos.modulator.pos_embed")!.Dispose();
                    note?.Invoke($"{path}: position table recomputed for resolution {detected.Resolution} (checkpoint has {tokens} tokens)");
                    var report = ModuleLoader.Load(model, sd, strict: false, source: path);
                    if (report.Missing.Any(k => k != "vos.modulator.pos_embed") || report.Unexpected.Count > 0)
                        throw new CmtmException(path, "checkpoint does not match the model: " + report.Describe());
                    return Finish(model, device);
                }
            }
            ModuleLoader.Load(model, sd, strict: true, source: path);
            return Finish(model, device);
        }
    }

    private static VosModel Finish(VosModel model, Device? device)
    {
        model.eval();
        if (device is not null && device.type != DeviceType.CPU) model.to(device);
        return model;
    }

    /// <summary>Writes our checkpoint format: safetensors with the config JSON in the metadata (atomic).</summary>
    /// <param name="storage">Floating-point storage type (Float16 or BFloat16 halve the file; loading converts back to
    /// the model's float32). Null keeps float32.</param>
    public static void Save(string path, VosModel model, IReadOnlyDictionary<string, string>? extraMetadata = null, ScalarType? storage = null)
    {
        using var sd = ModuleLoader.Export(model);
        if (storage is ScalarType st)
        {
            if (st is not (ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float32))
                throw new ArgumentException($"storage {st} is not float32, float16 or bfloat16", nameof(storage));
            foreach (var (k, v) in sd.Items.ToList())
                if (v.is_floating_point() && v.dtype != st) sd.Add(k, v.to_type(st)); // Add replaces and disposes the old tensor
        }
        var meta = new Dictionary<string, string> { [ConfigMetadataKey] = ConfigToJson(model.Config), ["format"] = "cmtm.net" };
        if (extraMetadata != null) foreach (var (k, v) in extraMetadata) meta[k] = v;
        SafeTensors.Write(path, sd.Items, meta);
    }
}
