using System.Buffers.Binary;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Cmtm.Flow;

/// <summary>
/// A dense optical flow field: <see cref="Data"/> holds H*W*2 float32 values row-major, per pixel u (horizontal,
/// +x = right) then v (vertical, +y = down) - the Middlebury .flo / numpy (H,W,2) layout.
/// </summary>
public sealed class FlowField
{
    public int Width { get; }
    public int Height { get; }
    public float[] Data { get; }

    public FlowField(int width, int height, float[] data)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"flow size {width}x{height} must be positive");
        if (data.Length != checked(2L * width * height)) throw new ArgumentException($"flow data has {data.Length} values, expected {2L * width * height} for {width}x{height}x2");
        Width = width; Height = height; Data = data;
    }

    /// <summary>From a flow tensor (H,W,2), (2,H,W) or (1,2,H,W); values are copied as float32.</summary>
    public static FlowField FromTensor(Tensor flow, FlowLayout layout = FlowLayout.Auto)
    {
        using var scope = NewDisposeScope();
        var hw2 = FlowColor.AsHw2(flow, layout).to(ScalarType.Float32).cpu().contiguous();
        return new FlowField((int)hw2.shape[1], (int)hw2.shape[0], hw2.data<float>().ToArray());
    }

    /// <summary>A new (H,W,2) float32 CPU tensor holding a copy of the data.</summary>
    public Tensor ToTensorHw2() => tensor(Data, new long[] { Height, Width, 2 }, ScalarType.Float32);

    /// <summary>A new (1,2,H,W) float32 CPU tensor (RAFT layout).</summary>
    public Tensor ToTensorNchw()
    {
        using var hw2 = ToTensorHw2();
        using var chw = hw2.permute(2, 0, 1);
        using var nchw = chw.unsqueeze(0);
        return nchw.contiguous();
    }

    /// <summary>RGB visualisation (H*W*3 bytes), see <see cref="FlowColor"/>.</summary>
    public byte[] ToRgb() => FlowColor.ToRgb(Data, Height, Width);
}

/// <summary>
/// Middlebury .flo files: float32 LE 202021.25 ("PIEH"), int32 LE width, int32 LE height, then H*W*2 float32 LE
/// (u, v per pixel, row-major). Values are read and written with their exact bits (signed zeros, NaN payloads).
/// </summary>
public static class FloFile
{
    public const float Magic = 202021.25f;
    /// <summary>Largest accepted side; anything beyond is treated as a corrupt header.</summary>
    public const int MaxSide = 1 << 16;
    private const int HeaderBytes = 12;

    public static FlowField Read(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new CmtmException(path, $"cannot read .flo file ({e.Message})", e); }
        return Parse(bytes, path);
    }

    /// <summary>Parses the bytes of a .flo file; <paramref name="source"/> names it in errors.</summary>
    public static FlowField Parse(ReadOnlySpan<byte> bytes, string source = "<memory>")
    {
        if (bytes.Length < HeaderBytes)
            throw new CmtmException(source, $"truncated .flo file: {bytes.Length} bytes, the header alone needs {HeaderBytes}");
        float magic = BinaryPrimitives.ReadSingleLittleEndian(bytes);
        if (BitConverter.SingleToInt32Bits(magic) != BitConverter.SingleToInt32Bits(Magic))
            throw new CmtmException(source, $"not a Middlebury .flo file: bad magic 0x{BinaryPrimitives.ReadUInt32LittleEndian(bytes):X8} (expected 202021.25, \"PIEH\")");
        int w = BinaryPrimitives.ReadInt32LittleEndian(bytes[4..]);
        int h = BinaryPrimitives.ReadInt32LittleEndian(bytes[8..]);
        if (w <= 0 || h <= 0 || w > MaxSide || h > MaxSide)
            throw new CmtmException(source, $"absurd .flo size {w}x{h} (each side must be 1..{MaxSide})");
        long expected = HeaderBytes + 8L * w * h;
        if (bytes.Length < expected)
            throw new CmtmException(source, $"truncated .flo file: {bytes.Length} bytes, {w}x{h} needs {expected}");
        if (bytes.Length > expected)
            throw new CmtmException(source, $"corrupt .flo file: {bytes.Length - expected} unexpected trailing bytes after the {w}x{h} flow");
        var data = new float[2 * w * h];
        var body = bytes.Slice(HeaderBytes, 8 * w * h);
        if (BitConverter.IsLittleEndian) body.CopyTo(MemoryMarshal.AsBytes(data.AsSpan()));
        else for (int i = 0; i < data.Length; i++) data[i] = BinaryPrimitives.ReadSingleLittleEndian(body[(4 * i)..]);
        return new FlowField(w, h, data);
    }

    /// <summary>The bytes of a .flo file for <paramref name="flow"/>.</summary>
    public static byte[] Serialize(FlowField flow)
    {
        var bytes = new byte[HeaderBytes + 4L * flow.Data.Length];
        BinaryPrimitives.WriteSingleLittleEndian(bytes, Magic);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4), flow.Width);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8), flow.Height);
        var body = bytes.AsSpan(HeaderBytes);
        if (BitConverter.IsLittleEndian) MemoryMarshal.AsBytes(flow.Data.AsSpan()).CopyTo(body);
        else for (int i = 0; i < flow.Data.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(body[(4 * i)..], flow.Data[i]);
        return bytes;
    }

    /// <summary>Writes a .flo file atomically (temporary file + rename).</summary>
    public static void Write(string path, FlowField flow)
    {
        var bytes = Serialize(flow);
        Cmtm.IO.AtomicFile.Write(path, s => s.Write(bytes));
    }

    /// <summary>Writes a flow tensor ((H,W,2), (2,H,W) or (1,2,H,W)) as a .flo file atomically.</summary>
    public static void Write(string path, Tensor flow, FlowLayout layout = FlowLayout.Auto) =>
        Write(path, FlowField.FromTensor(flow, layout));
}
