using static TorchSharp.torch;

namespace Cmtm.IO.Checkpoints;

/// <summary>Element sizes and names of the tensor dtypes that checkpoints carry.</summary>
public static class DTypes
{
    /// <summary>Bytes per element of a dtype supported by the checkpoint readers/writers.</summary>
    public static int ElementSize(ScalarType t) => t switch
    {
        ScalarType.Float32 or ScalarType.Int32 => 4,
        ScalarType.Float64 or ScalarType.Int64 => 8,
        ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Int16 => 2,
        ScalarType.Int8 or ScalarType.Byte or ScalarType.Bool => 1,
        _ => throw new ArgumentException($"dtype {t} is not supported in checkpoints"),
    };

    /// <summary>PyTorch spelling (float32, bfloat16, int64, uint8, bool, ...).</summary>
    public static string TorchName(ScalarType t) => t switch
    {
        ScalarType.Float32 => "float32",
        ScalarType.Float64 => "float64",
        ScalarType.Float16 => "float16",
        ScalarType.BFloat16 => "bfloat16",
        ScalarType.Int64 => "int64",
        ScalarType.Int32 => "int32",
        ScalarType.Int16 => "int16",
        ScalarType.Int8 => "int8",
        ScalarType.Byte => "uint8",
        ScalarType.Bool => "bool",
        _ => t.ToString().ToLowerInvariant(),
    };

    /// <summary>Checked product of a shape (element count); null on overflow or a negative dimension.</summary>
    internal static long? Numel(IReadOnlyList<long> shape)
    {
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0) return null;
            try { n = checked(n * d); } catch (OverflowException) { return null; }
        }
        return n;
    }

    internal static string ShapeText(IReadOnlyList<long> shape) => "(" + string.Join(", ", shape) + ")";

    /// <summary>
    /// Copies exactly <paramref name="byteCount"/> bytes from <paramref name="source"/> into a contiguous CPU tensor,
    /// in chunks (Span lengths are int) without a managed staging buffer. Throws EndOfStreamException when short.
    /// </summary>
    internal static void ReadInto(Stream source, Tensor contiguousCpu, long byteCount)
    {
        if (byteCount == 0) return;
        const long chunkBytes = 1L << 30;
        if (byteCount <= chunkBytes)
        {
            source.ReadExactly(contiguousCpu.bytes[..checked((int)byteCount)]);
            return;
        }
        long es = ElementSize(contiguousCpu.dtype);
        using var flat = contiguousCpu.view(-1);
        long total = flat.shape[0];
        long per = chunkBytes / es;
        for (long start = 0; start < total; start += per)
        {
            using var part = flat.narrow(0, start, Math.Min(per, total - start));
            source.ReadExactly(part.bytes);
        }
    }

    /// <summary>Writes the raw bytes of a contiguous CPU tensor to a stream, in chunks.</summary>
    internal static void WriteFrom(Stream target, Tensor contiguousCpu)
    {
        long n = contiguousCpu.numel();
        if (n == 0) return;
        long es = ElementSize(contiguousCpu.dtype);
        const long chunkBytes = 1L << 30;
        if (n * es <= chunkBytes) { target.Write(contiguousCpu.bytes); return; }
        using var flat = contiguousCpu.view(-1);
        long per = chunkBytes / es;
        for (long start = 0; start < n; start += per)
        {
            using var part = flat.narrow(0, start, Math.Min(per, n - start));
            target.Write(part.bytes);
        }
    }
}
