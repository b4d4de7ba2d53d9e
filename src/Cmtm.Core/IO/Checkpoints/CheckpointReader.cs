using System.Buffers.Binary;
using static TorchSharp.torch;

namespace Cmtm.IO.Checkpoints;

public enum CheckpointFormat
{
    /// <summary>torch.save zip archive (torch &gt;= 1.6), usually .pth / .pt / .bin.</summary>
    PyTorchZip,
    /// <summary>Hugging Face safetensors.</summary>
    SafeTensors,
}

/// <summary>Name, dtype and shape of one tensor in a checkpoint.</summary>
/// <param name="StorageKey">For .pth files, the storage the tensor views (tensors saved as views of one storage share it).</param>
public sealed record TensorInfo(string Key, ScalarType DType, long[] Shape, string? StorageKey = null)
{
    public long Numel => DTypes.Numel(Shape) ?? 0;
}

/// <summary>What a checkpoint holds, read without loading the tensor data.</summary>
public sealed record CheckpointInfo(
    string Path,
    CheckpointFormat Format,
    IReadOnlyList<TensorInfo> Tensors,
    string? Wrapper,
    IReadOnlyDictionary<string, string> Metadata)
{
    public int KeyCount => Tensors.Count;
    public long ElementCount => Tensors.Sum(t => t.Numel);

    /// <summary>Number of tensors and elements per dtype, e.g. float32 -> (490, 15119174).</summary>
    public IReadOnlyDictionary<string, (int Tensors, long Elements)> DTypeSummary =>
        Tensors.GroupBy(t => DTypes.TorchName(t.DType))
            .OrderByDescending(g => g.Sum(t => t.Numel))
            .ToDictionary(g => g.Key, g => (g.Count(), g.Sum(t => t.Numel)));

    public string FormatName => Format == CheckpointFormat.PyTorchZip ? "PyTorch zip (torch.save)" : "safetensors";

    /// <summary>A short multi-line summary for <c>cmtm inspect</c>.</summary>
    public override string ToString()
    {
        var lines = new List<string>
        {
            $"{Path}: {FormatName}, {KeyCount} tensors, {ElementCount} elements"
                + (Wrapper is null ? "" : $" (state dict taken from the '{Wrapper}' entry)"),
        };
        foreach (var (dt, (n, e)) in DTypeSummary) lines.Add($"  {dt}: {n} tensors, {e} elements");
        foreach (var (k, v) in Metadata) lines.Add($"  metadata {k} = {v}");
        return string.Join(Environment.NewLine, lines);
    }
}

/// <summary>Loads a checkpoint of any supported format, detected from the file content (not its extension).</summary>
public static class CheckpointReader
{
    internal const string LegacyMessage =
        "legacy torch.save format is not supported: re-save with torch>=1.6 (torch.save(torch.load(f), f2))";

    public static CheckpointFormat DetectFormat(string path)
    {
        byte[] head = new byte[16];
        int n;
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            n = fs.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        { throw new CheckpointFormatException(path, "file not found", e); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new CheckpointFormatException(path, $"cannot read file ({e.Message})", e); }
        var span = head.AsSpan(0, n);
        if (n == 0) throw new CheckpointFormatException(path, "file is empty");
        if (PthReader.HasZipMagic(span)) return CheckpointFormat.PyTorchZip;
        if (n >= 9 && span[8] == (byte)'{' && BinaryPrimitives.ReadUInt64LittleEndian(span) is > 1 and <= SafeTensors.MaxHeaderBytes)
            return CheckpointFormat.SafeTensors;
        if (n >= 2 && span[0] == 0x80 && span[1] is >= 2 and <= 5) throw new CheckpointFormatException(path, LegacyMessage);
        throw new CheckpointFormatException(path, "unrecognised checkpoint format (neither a PyTorch zip .pth nor safetensors)");
    }

    /// <summary>Loads all tensors (CPU, contiguous, file order).</summary>
    public static StateDict Load(string path) => DetectFormat(path) switch
    {
        CheckpointFormat.PyTorchZip => PthReader.Read(path),
        _ => SafeTensors.Read(path),
    };

    /// <summary>Format, keys, shapes and dtypes, without loading tensor data.</summary>
    public static CheckpointInfo Describe(string path) => DetectFormat(path) switch
    {
        CheckpointFormat.PyTorchZip => PthReader.Describe(path),
        _ => SafeTensors.Describe(path),
    };
}
