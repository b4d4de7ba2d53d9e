using System.Buffers.Binary;
using System.Text;
using Cmtm.IO.Checkpoints;
using Cmtm.Tests.Support;
using static TorchSharp.torch;

namespace Cmtm.Tests.IO.Checkpoints;

public class SafeTensorsTests
{
    private static readonly ScalarType[] AllDTypes =
    {
        ScalarType.Float32, ScalarType.Float16, ScalarType.BFloat16, ScalarType.Float64, ScalarType.Int64,
        ScalarType.Int32, ScalarType.Int16, ScalarType.Int8, ScalarType.Byte, ScalarType.Bool,
    };

    [Fact]
    public void RoundTripsEveryDtypeWithMetadataInOrder()
    {
        using var dir = new Shared.TempDir();
        var path = dir.File("all.safetensors");
        var items = AllDTypes.Select((t, i) => ($"z{9 - i}.{DTypes.TorchName(t)}", PthCraftedTests.Sample(t, 2, 3, i + 1))).ToList();
        items.Add(("scalar", tensor(3.5)));
        items.Add(("empty", zeros(0, 4)));
        using var transposed = arange(6, dtype: ScalarType.Float32).view(2, 3).t(); // non-contiguous input
        items.Add(("transposed", transposed.alias()));
        var meta = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode" };
        SafeTensors.Write(path, items, meta);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));

        using var sd = SafeTensors.Read(path, out var readMeta);
        Assert.Equal(meta, readMeta);
        Assert.Equal(meta, sd.Metadata);
        Assert.Equal(items.Select(i => i.Item1), sd.Keys); // write order is kept
        foreach (var (k, t) in items)
        {
            Assert.Equal(t.dtype, sd[k].dtype);
            Assert.Equal(t.shape, sd[k].shape);
            Assert.True(t.equal(sd[k]).all().item<bool>(), k);
        }
        // Header is padded so the data buffer is 8-byte aligned.
        var head = File.ReadAllBytes(path);
        Assert.Equal(0UL, BinaryPrimitives.ReadUInt64LittleEndian(head) % 8);

        var info = CheckpointReader.Describe(path);
        Assert.Equal(CheckpointFormat.SafeTensors, info.Format);
        Assert.Equal(items.Count, info.KeyCount);
        Assert.Equal("pt", info.Metadata["format"]);
        using var viaLoad = CheckpointReader.Load(path);
        Assert.Equal(items.Count, viaLoad.Count);
        foreach (var (_, t) in items) t.Dispose();
    }

    [Fact]
    public void WriteRejectsBadInputWithoutCreatingAFile()
    {
        using var dir = new Shared.TempDir();
        var path = dir.File("bad.safetensors");
        using var a = ones(2);
        Assert.Throws<ArgumentException>(() => SafeTensors.Write(path, new[] { ("a", a), ("a", a) }));
        using var c = ones(2, dtype: ScalarType.ComplexFloat32);
        Assert.Throws<ArgumentException>(() => SafeTensors.Write(path, new[] { ("c", c) }));
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    /// <summary>Writes a safetensors file from a raw JSON header and a data buffer of the given length.</summary>
    private static string Craft(Shared.TempDir dir, string json, int dataBytes, ulong? headerLen = null)
    {
        var path = dir.File(Guid.NewGuid().ToString("N")[..8] + ".safetensors");
        var h = Encoding.UTF8.GetBytes(json);
        var b = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(b, headerLen ?? (ulong)h.Length);
        h.CopyTo(b, 8);
        File.WriteAllBytes(path, b);
        return path;
    }

    private static string Fails(string path) =>
        Assert.Throws<CheckpointFormatException>(() => { using var _ = SafeTensors.Read(path); }).Message;

    [Fact]
    public void HostileHeadersAreNamedErrors()
    {
        using var dir = new Shared.TempDir();
        string T(string name, string dtype, string shape, long b, long e) =>
            $"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{shape}],\"data_offsets\":[{b},{e}]}}";

        var ok = Craft(dir, "{" + T("a", "F32", "2", 0, 8) + "," + T("b", "I8", "4", 8, 12) + "}", 12);
        using (var sd = SafeTensors.Read(ok)) Assert.Equal(new[] { "a", "b" }, sd.Keys);

        Assert.Contains("tensor 'b' data [4, 12) overlaps the previous tensor",
            Fails(Craft(dir, "{" + T("a", "F32", "2", 0, 8) + "," + T("b", "F32", "2", 4, 12) + "}", 12)));
        Assert.Contains("tensor 'a' data [0, 8) is out of range (data buffer has 4 bytes)",
            Fails(Craft(dir, "{" + T("a", "F32", "2", 0, 8) + "}", 4)));
        Assert.Contains("leaving a gap",
            Fails(Craft(dir, "{" + T("a", "F32", "2", 4, 12) + "}", 12)));
        Assert.Contains("data buffer has 16 bytes but the tensors cover 8",
            Fails(Craft(dir, "{" + T("a", "F32", "2", 0, 8) + "}", 16)));
        Assert.Contains("tensor 'a': data_offsets [0, 6) span 6 bytes but F32 (2) needs 8",
            Fails(Craft(dir, "{" + T("a", "F32", "2", 0, 6) + "}", 6)));
        Assert.Contains("tensor 'a': unsupported dtype 'F8_E4M3'",
            Fails(Craft(dir, "{" + T("a", "F8_E4M3", "2", 0, 2) + "}", 2)));
        Assert.Contains("is too large",
            Fails(Craft(dir, "{" + T("a", "F32", "4611686018427387904,4", 0, 8) + "}", 8)));
        Assert.Contains("repeats key 'a'",
            Fails(Craft(dir, "{" + T("a", "F32", "2", 0, 8) + "," + T("a", "F32", "2", 0, 8) + "}", 8)));
        Assert.Contains("metadata 'x' is not a string",
            Fails(Craft(dir, "{\"__metadata__\":{\"x\":1}}", 0)));
        Assert.Contains("not valid JSON", Fails(Craft(dir, "{\"a\":", 0)));
        Assert.Contains("header length 1000 exceeds the file", Fails(Craft(dir, "{}", 0, 1000)));
        Assert.Contains("exceeds the limit", Fails(Craft(dir, "{}", 0, ulong.MaxValue)));
        var tiny = dir.File("tiny.safetensors");
        File.WriteAllBytes(tiny, new byte[] { 1, 2, 3 });
        Assert.Contains("too short", Fails(tiny));
    }
}
