using System.Text.RegularExpressions;
using Cmtm.Runtime;
using static TorchSharp.torch;

namespace Cmtm.IO.Checkpoints;

/// <summary>
/// Maps pretrained MiT (SegFormer encoder) weights to our encoder parameter names, which equal the Hugging Face
/// SegformerModel names (<c>encoder.patch_embeddings.0.proj.weight</c>, <c>encoder.block.0.1.attention.self.key.weight</c>,
/// <c>encoder.layer_norm.3.bias</c>). The results hold new tensors (the input is left
/// untouched; the caller disposes both) ordered as HF's <c>named_parameters()</c>; the caller adds its own prefix
/// (e.g. <c>vos.app_encoder.backbone.</c>, see <see cref="WithPrefix"/>).
/// </summary>
public static partial class MitKeyMapping
{
    public const string EncoderPrefix = "encoder.";

    [GeneratedRegex(@"^patch_embed([1-4])\.(proj|norm)\.(weight|bias)$")]
    private static partial Regex NvPatch();

    [GeneratedRegex(@"^block([1-4])\.(\d{1,3})\.(norm1|norm2|attn\.q|attn\.kv|attn\.sr|attn\.norm|attn\.proj|mlp\.fc1|mlp\.dwconv\.dwconv|mlp\.fc2)\.(weight|bias)$")]
    private static partial Regex NvBlock();

    [GeneratedRegex(@"^norm([1-4])\.(weight|bias)$")]
    private static partial Regex NvNorm();

    [GeneratedRegex(@"^encoder\.(patch_embeddings\.([0-3])\.(proj|layer_norm)|block\.([0-3])\.(\d{1,3})\.(layer_norm_1|attention\.self\.query|attention\.self\.key|attention\.self\.value|attention\.self\.sr|attention\.self\.layer_norm|attention\.output\.dense|layer_norm_2|mlp\.dense1|mlp\.dwconv\.dwconv|mlp\.dense2)|layer_norm\.([0-3]))\.(weight|bias)$")]
    private static partial Regex HfKey();

    private static readonly string[] BlockOrder =
    {
        "layer_norm_1", "attention.self.query", "attention.self.key", "attention.self.value", "attention.self.sr",
        "attention.self.layer_norm", "attention.output.dense", "layer_norm_2", "mlp.dense1", "mlp.dwconv.dwconv", "mlp.dense2",
    };

    private static readonly Dictionary<string, string> BlockRename = new()
    {
        ["norm1"] = "layer_norm_1",
        ["norm2"] = "layer_norm_2",
        ["attn.q"] = "attention.self.query",
        ["attn.sr"] = "attention.self.sr",
        ["attn.norm"] = "attention.self.layer_norm",
        ["attn.proj"] = "attention.output.dense",
        ["mlp.fc1"] = "mlp.dense1",
        ["mlp.dwconv.dwconv"] = "mlp.dwconv.dwconv",
        ["mlp.fc2"] = "mlp.dense2",
    };

    /// <summary>True if the keys look like an NVlabs MiT checkpoint (patch_embed1.proj.weight ...).</summary>
    public static bool IsNvlabs(StateDict sd) => sd.ContainsKey("patch_embed1.proj.weight");

    /// <summary>Maps either naming (detected from the keys) to <c>encoder.*</c> names.</summary>
    public static StateDict ToEncoder(StateDict sd) => IsNvlabs(sd) ? FromNvlabs(sd) : FromHuggingFace(sd);

    /// <summary>
    /// NVlabs ImageNet MiT checkpoints (mit_b0.pth ...) to HF names: attn.kv (2C, C) is split into key
    /// (rows [0, C)) and value (rows [C, 2C)), same for its bias; <c>head.*</c> is dropped; any other key is an error.
    /// </summary>
    public static StateDict FromNvlabs(StateDict nvlabs)
    {
        var mapped = new List<(string Key, Tensor Value)>();
        try
        {
            foreach (var (key, t) in nvlabs.Items)
            {
                Match m;
                if (key is "head.weight" or "head.bias") continue;
                if ((m = NvPatch().Match(key)).Success)
                {
                    int i = int.Parse(m.Groups[1].Value) - 1;
                    var part = m.Groups[2].Value == "proj" ? "proj" : "layer_norm";
                    mapped.Add(($"encoder.patch_embeddings.{i}.{part}.{m.Groups[3].Value}", TensorCopies.DetachedClone(t)));
                }
                else if ((m = NvNorm().Match(key)).Success)
                {
                    int i = int.Parse(m.Groups[1].Value) - 1;
                    mapped.Add(($"encoder.layer_norm.{i}.{m.Groups[2].Value}", TensorCopies.DetachedClone(t)));
                }
                else if ((m = NvBlock().Match(key)).Success)
                {
                    int i = int.Parse(m.Groups[1].Value) - 1;
                    var j = m.Groups[2].Value;
                    var part = m.Groups[3].Value;
                    var wb = m.Groups[4].Value;
                    var head = $"encoder.block.{i}.{j}.";
                    if (part == "attn.kv")
                    {
                        long rows = t.shape.Length >= 1 ? t.shape[0] : -1;
                        if (rows <= 0 || rows % 2 != 0 || (wb == "weight" && t.shape.Length != 2) || (wb == "bias" && t.shape.Length != 1))
                            throw new CheckpointFormatException(nvlabs.Source, $"'{key}' has shape {DTypes.ShapeText(t.shape)}, expected (2C, C) / (2C)");
                        long c = rows / 2;
                        using (var keyRows = t.narrow(0, 0, c)) mapped.Add((head + "attention.self.key." + wb, TensorCopies.DetachedClone(keyRows)));
                        using (var valueRows = t.narrow(0, c, c)) mapped.Add((head + "attention.self.value." + wb, TensorCopies.DetachedClone(valueRows)));
                    }
                    else mapped.Add((head + BlockRename[part] + "." + wb, TensorCopies.DetachedClone(t)));
                }
                else throw new CheckpointFormatException(nvlabs.Source, $"unknown key '{key}' for an NVlabs MiT checkpoint");
            }
            return Build(nvlabs.Source, mapped);
        }
        catch
        {
            foreach (var (_, t) in mapped) t.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Hugging Face MiT / Segformer checkpoints: strips a leading <c>segformer.</c>, drops <c>classifier.*</c> (ImageNet head)
    /// and <c>decode_head.*</c> (segmentation head), accepts keys already starting with <c>encoder.</c>; any other key
    /// (or an encoder key that is not a MiT parameter) is an error.
    /// </summary>
    public static StateDict FromHuggingFace(StateDict hf)
    {
        var mapped = new List<(string Key, Tensor Value)>();
        try
        {
            foreach (var (key, t) in hf.Items)
            {
                var k = key.StartsWith("segformer.", StringComparison.Ordinal) ? key["segformer.".Length..] : key;
                if (k.StartsWith("classifier.", StringComparison.Ordinal) || k.StartsWith("decode_head.", StringComparison.Ordinal)) continue;
                if (!HfKey().IsMatch(k)) throw new CheckpointFormatException(hf.Source, $"unknown key '{key}' for a Hugging Face MiT checkpoint");
                mapped.Add((k, TensorCopies.DetachedClone(t)));
            }
            return Build(hf.Source, mapped);
        }
        catch
        {
            foreach (var (_, t) in mapped) t.Dispose();
            throw;
        }
    }

    /// <summary>Moves every entry of <paramref name="sd"/> into a new StateDict under <c>prefix + key</c> (sd is left empty).</summary>
    public static StateDict WithPrefix(StateDict sd, string prefix)
    {
        var r = new StateDict { Source = sd.Source, Wrapper = sd.Wrapper };
        foreach (var k in sd.Keys.ToList()) r.Add(prefix + k, sd.Remove(k)!);
        return r;
    }

    private static StateDict Build(string source, List<(string Key, Tensor Value)> mapped)
    {
        var sd = new StateDict { Source = source };
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (k, _) in mapped)
            if (!seen.Add(k)) throw new CheckpointFormatException(source, $"two keys map to '{k}'");
        foreach (var (k, t) in mapped.OrderBy(e => SortKey(e.Key))) sd.Add(k, t);
        return sd;
    }

    /// <summary>HF named_parameters() order: patch embeddings, blocks (stage, block, part), final layer norms.</summary>
    private static (int, int, int, int, int) SortKey(string key)
    {
        var m = HfKey().Match(key);
        int wb = m.Groups[8].Value == "weight" ? 0 : 1;
        if (m.Groups[2].Success) return (0, int.Parse(m.Groups[2].Value), 0, m.Groups[3].Value == "proj" ? 0 : 1, wb);
        if (m.Groups[4].Success)
            return (1, int.Parse(m.Groups[4].Value), int.Parse(m.Groups[5].Value), Array.IndexOf(BlockOrder, m.Groups[6].Value), wb);
        return (2, int.Parse(m.Groups[7].Value), 0, 0, wb);
    }
}
