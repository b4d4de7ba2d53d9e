using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Cmtm.Runtime;
using static TorchSharp.torch;

namespace Cmtm.IO.Checkpoints;

/// <summary>
/// Hugging Face safetensors: 8-byte little-endian header length N, N bytes of JSON
/// (<c>{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}</c>), then the data
/// buffer. Offsets are relative to the buffer, must be contiguous, non-overlapping and cover it exactly.
/// </summary>
public static class SafeTensors
{
    /// <summary>Largest accepted JSON header (the reference implementation's limit).</summary>
    public const ulong MaxHeaderBytes = 100_000_000;

    private static readonly Dictionary<string, ScalarType> Names = new(StringComparer.Ordinal)
    {
        ["F32"] = ScalarType.Float32,
        ["F16"] = ScalarType.Float16,
        ["BF16"] = ScalarType.BFloat16,
        ["F64"] = ScalarType.Float64,
        ["I64"] = ScalarType.Int64,
        ["I32"] = ScalarType.Int32,
        ["I16"] = ScalarType.Int16,
        ["I8"] = ScalarType.Int8,
        ["U8"] = ScalarType.Byte,
        ["BOOL"] = ScalarType.Bool,
    };

    public static string DTypeName(ScalarType t) =>
        Names.FirstOrDefault(kv => kv.Value == t).Key
        ?? throw new ArgumentException($"dtype {t} cannot be stored in safetensors by this writer");

    private sealed record Entry(string Key, ScalarType DType, long[] Shape, long Begin, long End);

    private sealed record Header(List<Entry> Entries, Dictionary<string, string> Metadata, long DataStart);

    /// <summary>Loads all tensors (CPU, in data-offset order) with the <c>__metadata__</c> in <see cref="StateDict.Metadata"/>.</summary>
    public static StateDict Read(string path) => Read(path, out _);

    public static StateDict Read(string path, out Dictionary<string, string> metadata)
    {
        using var fs = OpenRead(path);
        var h = ReadHeader(path, fs);
        var sd = new StateDict { Source = path };
        foreach (var (k, v) in h.Metadata) sd.Metadata[k] = v;
        try
        {
            foreach (var e in h.Entries)
            {
                var t = empty(e.Shape, dtype: e.DType);
                try
                {
                    fs.Position = h.DataStart + e.Begin;
                    DTypes.ReadInto(fs, t, e.End - e.Begin);
                }
                catch (Exception ex) when (ex is EndOfStreamException or IOException)
                {
                    t.Dispose();
                    throw new CheckpointFormatException(path, $"tensor '{e.Key}' data cannot be read ({ex.Message})", ex);
                }
                sd.Add(e.Key, t);
            }
        }
        catch
        {
            sd.Dispose();
            throw;
        }
        metadata = new Dictionary<string, string>(h.Metadata, StringComparer.Ordinal);
        return sd;
    }

    public static CheckpointInfo Describe(string path)
    {
        using var fs = OpenRead(path);
        var h = ReadHeader(path, fs);
        return new CheckpointInfo(path, CheckpointFormat.SafeTensors,
            h.Entries.Select(e => new TensorInfo(e.Key, e.DType, e.Shape)).ToList(), null, h.Metadata);
    }

    /// <summary>
    /// Writes tensors (any device; copied to CPU, made contiguous) in the given order, atomically. Keys must be
    /// unique and non-empty; metadata values are strings.
    /// </summary>
    public static void Write(string path, IEnumerable<(string Key, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var items = tensors.ToList();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (k, t) in items)
        {
            if (string.IsNullOrEmpty(k) || k == "__metadata__") throw new ArgumentException($"invalid safetensors key '{k}'");
            if (!seen.Add(k)) throw new ArgumentException($"duplicate safetensors key '{k}'");
            DTypeName(t.dtype);
        }

        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var (k, t) in items)
            {
                long bytes = t.numel() * DTypes.ElementSize(t.dtype);
                w.WriteStartObject(k);
                w.WriteString("dtype", DTypeName(t.dtype));
                w.WriteStartArray("shape");
                foreach (var d in t.shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + bytes);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += bytes;
            }
            w.WriteEndObject();
        }
        int pad = (int)((8 - ms.Length % 8) % 8);
        for (int i = 0; i < pad; i++) ms.WriteByte((byte)' ');
        var header = ms.ToArray();

        AtomicFile.Write(path, stream =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
            stream.Write(len);
            stream.Write(header);
            foreach (var (_, t) in items)
            {
                using var cpu = TensorCopies.CpuContiguous(t);
                DTypes.WriteFrom(stream, cpu);
            }
        });
    }

    private static FileStream OpenRead(string path)
    {
        try { return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        { throw new CheckpointFormatException(path, "file not found", e); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new CheckpointFormatException(path, $"cannot read file ({e.Message})", e); }
    }

    private static Header ReadHeader(string path, FileStream fs)
    {
        CheckpointFormatException Bad(string problem) => new(path, problem);
        long fileLen = fs.Length;
        if (fileLen < 8) throw Bad($"too short for safetensors ({fileLen} bytes)");
        Span<byte> lenBytes = stackalloc byte[8];
        fs.ReadExactly(lenBytes);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
        if (n > MaxHeaderBytes) throw Bad($"safetensors header length {n} exceeds the limit of {MaxHeaderBytes}");
        if (n > (ulong)(fileLen - 8)) throw Bad($"safetensors header length {n} exceeds the file ({fileLen} bytes)");
        var json = new byte[n];
        fs.ReadExactly(json);
        long dataStart = 8 + (long)n;
        long dataLen = fileLen - dataStart;
        if (n == 0 || json[0] != (byte)'{') throw Bad("safetensors header is not a JSON object");
        // JsonDocument transcodes strings lazily and would throw InvalidOperationException on invalid UTF-8 later
        if (!System.Text.Unicode.Utf8.IsValid(json)) throw Bad("safetensors header is not valid UTF-8");

        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 16 }); }
        catch (JsonException e) { throw new CheckpointFormatException(path, $"safetensors header is not valid JSON ({e.Message})", e); }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Bad("safetensors header is not a JSON object");

        var entries = new List<Entry>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (!keys.Add(p.Name)) throw Bad($"safetensors header repeats key '{p.Name}'");
            if (p.Name == "__metadata__")
            {
                if (p.Value.ValueKind != JsonValueKind.Object) throw Bad("safetensors __metadata__ is not an object");
                foreach (var m in p.Value.EnumerateObject())
                {
                    if (m.Value.ValueKind != JsonValueKind.String) throw Bad($"safetensors metadata '{m.Name}' is not a string");
                    metadata[m.Name] = m.Value.GetString()!;
                }
                continue;
            }
            entries.Add(ParseEntry(path, p));
        }

        entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long expected = 0;
        foreach (var e in entries)
        {
            if (e.Begin < expected)
                throw Bad($"tensor '{e.Key}' data [{e.Begin}, {e.End}) overlaps the previous tensor (which ends at {expected})");
            if (e.Begin > expected)
                throw Bad($"tensor '{e.Key}' data starts at {e.Begin}, leaving a gap after offset {expected}");
            if (e.End > dataLen)
                throw Bad($"tensor '{e.Key}' data [{e.Begin}, {e.End}) is out of range (data buffer has {dataLen} bytes)");
            expected = e.End;
        }
        if (expected != dataLen)
            throw Bad($"safetensors data buffer has {dataLen} bytes but the tensors cover {expected}");
        return new Header(entries, metadata, dataStart);
    }

    private static Entry ParseEntry(string path, JsonProperty p)
    {
        CheckpointFormatException Bad(string problem) => new(path, $"tensor '{p.Name}': {problem}");
        var v = p.Value;
        if (v.ValueKind != JsonValueKind.Object) throw Bad("header entry is not an object");
        if (!v.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String) throw Bad("missing dtype");
        var dtName = dt.GetString()!;
        if (!Names.TryGetValue(dtName, out var dtype)) throw Bad($"unsupported dtype '{dtName}'");
        if (!v.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array) throw Bad("missing shape");
        if (sh.GetArrayLength() > 64) throw Bad("too many dimensions");
        var shape = new long[sh.GetArrayLength()];
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var x) || x < 0) throw Bad("shape holds a non-integer or negative value");
            shape[i++] = x;
        }
        if (!v.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw Bad("missing data_offsets [begin, end]");
        // TryGetInt64 throws (InvalidOperationException) on non-numbers, so check the kind first
        if (off[0].ValueKind != JsonValueKind.Number || off[1].ValueKind != JsonValueKind.Number
            || !off[0].TryGetInt64(out var begin) || !off[1].TryGetInt64(out var end) || begin < 0 || end < begin)
            throw Bad("invalid data_offsets");
        long? numel = DTypes.Numel(shape);
        long? bytes = null;
        if (numel is long ne) { try { bytes = checked(ne * DTypes.ElementSize(dtype)); } catch (OverflowException) { } }
        if (bytes is null) throw Bad($"shape {DTypes.ShapeText(shape)} is too large");
        if (end - begin != bytes)
            throw Bad($"data_offsets [{begin}, {end}) span {end - begin} bytes but {dtName} {DTypes.ShapeText(shape)} needs {bytes}");
        return new Entry(p.Name, dtype, shape, begin, end);
    }
}
