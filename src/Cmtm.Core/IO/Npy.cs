using System.Text;
using System.Text.RegularExpressions;
using Cmtm.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Cmtm.IO;

/// <summary>NumPy .npy files (format 1.0-3.0, C order, little-endian): read into tensors, write from tensors.</summary>
public static class Npy
{
    private static readonly byte[] Magic = { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y' };

    private static (ScalarType type, int size) FromDescr(string descr, string path) => descr switch
    {
        "<f4" => (ScalarType.Float32, 4),
        "<f8" => (ScalarType.Float64, 8),
        "<f2" => (ScalarType.Float16, 2),
        "<i8" => (ScalarType.Int64, 8),
        "<i4" => (ScalarType.Int32, 4),
        "<i2" => (ScalarType.Int16, 2),
        "|i1" => (ScalarType.Int8, 1),
        "|u1" => (ScalarType.Byte, 1),
        "|b1" => (ScalarType.Bool, 1),
        _ => throw new CmtmException(path, $"unsupported .npy dtype '{descr}'"),
    };

    private static string ToDescr(ScalarType t) => t switch
    {
        ScalarType.Float32 => "<f4",
        ScalarType.Float64 => "<f8",
        ScalarType.Float16 => "<f2",
        ScalarType.Int64 => "<i8",
        ScalarType.Int32 => "<i4",
        ScalarType.Int16 => "<i2",
        ScalarType.Int8 => "|i1",
        ScalarType.Byte => "|u1",
        ScalarType.Bool => "|b1",
        _ => throw new ArgumentException($"dtype {t} cannot be written as .npy"),
    };

    /// <summary>Reads a .npy file into a CPU tensor of the stored dtype and shape.</summary>
    public static Tensor Load(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new CmtmException(path, $"cannot read file ({e.Message})", e); }
        if (bytes.Length < 10 || !bytes.AsSpan(0, 6).SequenceEqual(Magic))
            throw new CmtmException(path, "not a .npy file (bad magic)");
        int major = bytes[6];
        int headerLen, headerStart;
        if (major == 1) { headerLen = BitConverter.ToUInt16(bytes, 8); headerStart = 10; }
        else if (major is 2 or 3) { headerLen = (int)BitConverter.ToUInt32(bytes, 8); headerStart = 12; }
        else throw new CmtmException(path, $"unsupported .npy version {major}");
        if (headerStart + headerLen > bytes.Length) throw new CmtmException(path, "truncated .npy header");
        var header = Encoding.Latin1.GetString(bytes, headerStart, headerLen);
        var descr = Regex.Match(header, @"'descr'\s*:\s*'([^']+)'").Groups[1].Value;
        var fortran = Regex.Match(header, @"'fortran_order'\s*:\s*(True|False)").Groups[1].Value;
        var shapeText = Regex.Match(header, @"'shape'\s*:\s*\(([^)]*)\)");
        if (descr.Length == 0 || fortran.Length == 0 || !shapeText.Success)
            throw new CmtmException(path, "malformed .npy header");
        var shape = shapeText.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(long.Parse).ToArray();
        var (type, size) = FromDescr(descr, path);
        long count = shape.Aggregate(1L, (a, b) => a * b);
        int dataStart = headerStart + headerLen;
        if (dataStart + count * size > bytes.Length)
            throw new CmtmException(path, $"data shorter than shape ({string.Join("x", shape)}) requires");
        bool fortranOrder = fortran == "True";
        // Fortran order = C order of the reversed shape, transposed back
        var stored = fortranOrder ? shape.Reverse().ToArray() : shape;
        var t = empty(stored, dtype: type);
        if (count > 0)
            t.bytes = bytes.AsSpan(dataStart, checked((int)(count * size)));
        if (!fortranOrder || shape.Length < 2) return t;
        using (t)
        using (var reversed = t.permute(Enumerable.Range(0, shape.Length).Reverse().Select(i => (long)i).ToArray()))
            return reversed.contiguous();
    }

    /// <summary>Writes a tensor (any device; copied to CPU, made contiguous) as a .npy file, atomically.</summary>
    public static void Save(string path, Tensor tensor)
    {
        using var cpu = TensorCopies.CpuContiguous(tensor);
        var shape = cpu.shape;
        var shapeText = shape.Length == 0 ? "()" : shape.Length == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape) + ")";
        var dict = $"{{'descr': '{ToDescr(cpu.dtype)}', 'fortran_order': False, 'shape': {shapeText}, }}";
        int total = 10 + dict.Length + 1;
        int pad = (64 - total % 64) % 64;
        var header = dict + new string(' ', pad) + "\n";
        AtomicFile.Write(path, stream =>
        {
            stream.Write(Magic);
            stream.WriteByte(1); stream.WriteByte(0);
            stream.Write(BitConverter.GetBytes((ushort)header.Length));
            stream.Write(Encoding.Latin1.GetBytes(header));
            if (cpu.numel() > 0) stream.Write(cpu.bytes);
        });
    }
}
