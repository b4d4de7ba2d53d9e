using System.IO.Compression;
using System.Text;
using Cmtm.IO.Checkpoints;
using Cmtm.Tests.Support;
using static TorchSharp.torch;

namespace Cmtm.Tests.IO.Checkpoints;

/// <summary>Hand-built .pth files: every dtype, views and shared storages, wrappers, and hostile/broken inputs.</summary>
public class PthCraftedTests
{
    private static readonly (ScalarType Type, string Storage)[] AllDTypes =
    {
        (ScalarType.Float32, "FloatStorage"), (ScalarType.Float16, "HalfStorage"), (ScalarType.BFloat16, "BFloat16Storage"),
        (ScalarType.Float64, "DoubleStorage"), (ScalarType.Int64, "LongStorage"), (ScalarType.Int32, "IntStorage"),
        (ScalarType.Int16, "ShortStorage"), (ScalarType.Int8, "CharStorage"), (ScalarType.Byte, "ByteStorage"),
        (ScalarType.Bool, "BoolStorage"),
    };

    internal static Tensor Sample(ScalarType type, params long[] shape)
    {
        using var g = manual_seed(1234);
        return type switch
        {
            ScalarType.Bool => randint(0, 2, shape).to_type(ScalarType.Bool),
            ScalarType.Byte => randint(0, 256, shape).to_type(type),
            ScalarType.Int8 => randint(-128, 128, shape).to_type(type),
            ScalarType.Int16 => randint(-30000, 30000, shape).to_type(type),
            ScalarType.Int32 or ScalarType.Int64 => randint(-1_000_000, 1_000_000, shape).to_type(type),
            _ => randn(shape).to_type(type),
        };
    }

    private static long[] Contig(long[] size)
    {
        var s = new long[size.Length];
        long acc = 1;
        for (int i = size.Length - 1; i >= 0; i--) { s[i] = acc; acc *= size[i]; }
        return s;
    }

    private static CheckpointFormatException Fails(string path) =>
        Assert.Throws<CheckpointFormatException>(() => { using var _ = PthReader.Read(path); });

    [Fact]
    public void RoundTripsEveryDtype()
    {
        using var dir = new Shared.TempDir();
        var specs = new List<TensorSpec>();
        var storages = new Dictionary<string, byte[]>();
        var expected = new List<Tensor>();
        for (int i = 0; i < AllDTypes.Length; i++)
        {
            var (type, storage) = AllDTypes[i];
            var t = Sample(type, 3, 5);
            expected.Add(t);
            storages[i.ToString()] = t.bytes.ToArray();
            specs.Add(new TensorSpec($"t.{DTypes.TorchName(type)}", storage, i.ToString(), 15, 0, new long[] { 3, 5 }, new long[] { 5, 1 }));
        }
        var path = dir.File("all.pth");
        PthBuilder.WriteZip(path, PthBuilder.StateDictPickle(specs), storages);
        using var sd = PthReader.Read(path);
        Assert.Equal(specs.Select(s => s.Key), sd.Keys);
        for (int i = 0; i < AllDTypes.Length; i++)
        {
            var got = sd[specs[i].Key];
            Assert.Equal(AllDTypes[i].Type, got.dtype);
            Assert.Equal(new long[] { 3, 5 }, got.shape);
            Assert.Equal(expected[i].bytes.ToArray(), got.bytes.ToArray());
            expected[i].Dispose();
        }
    }

    [Fact]
    public void MaterialisesStridedOffsetSharedAndScalarViews()
    {
        using var dir = new Shared.TempDir();
        using var data = arange(12, dtype: ScalarType.Float32);
        using var counter = tensor(new long[] { 42 });
        var specs = new List<TensorSpec>
        {
            new("whole", "FloatStorage", "0", 12, 0, new long[] { 3, 4 }, new long[] { 4, 1 }),
            new("transposed", "FloatStorage", "0", 12, 0, new long[] { 4, 3 }, new long[] { 1, 4 }),
            new("offset", "FloatStorage", "0", 12, 5, new long[] { 2, 2 }, new long[] { 4, 1 }),
            new("scalar", "FloatStorage", "0", 12, 7, Array.Empty<long>(), Array.Empty<long>()),
            new("empty", "FloatStorage", "0", 12, 0, new long[] { 0, 3 }, new long[] { 3, 1 }),
            new("broadcast", "FloatStorage", "0", 12, 1, new long[] { 2, 3 }, new long[] { 0, 1 }),
            new("num_batches_tracked", "LongStorage", "1", 1, 0, Array.Empty<long>(), Array.Empty<long>()),
        };
        var path = dir.File("views.pth");
        PthBuilder.WriteZip(path, PthBuilder.StateDictPickle(specs), new Dictionary<string, byte[]>
        {
            ["0"] = data.bytes.ToArray(),
            ["1"] = counter.bytes.ToArray(),
        });
        using var sd = PthReader.Read(path);
        using var m = data.view(3, 4);
        Assert.True(sd["whole"].equal(m).all().item<bool>());
        using var mt = m.t();
        Assert.True(sd["transposed"].equal(mt).all().item<bool>());
        Assert.True(sd["transposed"].is_contiguous());
        Assert.Equal(new float[] { 5, 6, 9, 10 }, sd["offset"].data<float>().ToArray());
        Assert.Empty(sd["scalar"].shape);
        Assert.Equal(7f, sd["scalar"].item<float>());
        Assert.Equal(new long[] { 0, 3 }, sd["empty"].shape);
        Assert.Equal(new float[] { 1, 2, 3, 1, 2, 3 }, sd["broadcast"].data<float>().ToArray());
        Assert.Equal(42L, sd["num_batches_tracked"].item<long>());
        Assert.Equal(ScalarType.Int64, sd["num_batches_tracked"].dtype);
        // Tensors are independent copies: changing one does not change another that shared its storage.
        sd["whole"].zero_();
        Assert.Equal(5f, sd["offset"].data<float>()[0]);
    }

    [Theory]
    [InlineData("state_dict")]
    [InlineData("model")]
    public void UnwrapsTrainingCheckpointDicts(string wrapper)
    {
        using var dir = new Shared.TempDir();
        using var w = Sample(ScalarType.Float32, 2, 2);
        var path = dir.File("wrapped.pth");
        PthBuilder.WriteZip(path, PthBuilder.StateDictPickle(new[] { new TensorSpec("layer.weight", "FloatStorage", "0", 4, 0, new long[] { 2, 2 }, new long[] { 2, 1 }) }, wrapper),
            new Dictionary<string, byte[]> { ["0"] = w.bytes.ToArray() });
        using var sd = CheckpointReader.Load(path);
        Assert.Equal(wrapper, sd.Wrapper);
        Assert.Equal(new[] { "layer.weight" }, sd.Keys);
        Assert.True(sd["layer.weight"].equal(w).all().item<bool>());
        Assert.Equal(wrapper, CheckpointReader.Describe(path).Wrapper);
    }

    /// <summary>
    /// Protocol-4 opcodes (FRAME, SHORT_BINUNICODE, BINUNICODE8, MEMOIZE/BINGET, STACK_GLOBAL, SETITEMS) and the other
    /// allow-listed rebuild functions: _rebuild_parameter (nn.Parameter), _rebuild_parameter_with_state (empty
    /// state) and the pre-1.x _rebuild_tensor.
    /// </summary>
    [Fact]
    public void ReadsProtocol4OpcodesAndParameterRebuilds()
    {
        using var dir = new Shared.TempDir();
        using var w = Sample(ScalarType.Float32, 6);
        static PickleBuilder Short(PickleBuilder p, string s) => p.Raw(0x8c, (byte)s.Length).Raw(Encoding.ASCII.GetBytes(s));
        static PickleBuilder Storage(PickleBuilder p) =>
            Short(Short(Short(p.Mark(), "storage").StackGlobal("torch", "FloatStorage"), "0"), "cpu").Int(6).Tuple().Raw((byte)'Q');

        var p = new PickleBuilder().Proto(4).Raw(0x95).Raw(BitConverter.GetBytes(10L)).EmptyDict().Raw(0x94).Mark(); // memo 0: dict
        // "a": Parameter(_rebuild_tensor_v2(storage, 0, (2, 3), (3, 1), ...))
        Short(p, "a").StackGlobal("torch._utils", "_rebuild_parameter").Raw(0x94) // memo 1
            .StackGlobal("torch._utils", "_rebuild_tensor_v2").Raw(0x94).Mark(); // memo 2
        Storage(p).Int(0).IntTuple(new long[] { 2, 3 }).IntTuple(new long[] { 3, 1 }).False().OrderedDict().Tuple().Reduce()
            .Raw(0x88).OrderedDict().Raw(0x87).Reduce();
        // "b": old _rebuild_tensor(storage, 4, (2,), (1,))
        p.Raw(0x8d).Raw(BitConverter.GetBytes(1L)).Raw((byte)'b')
            .StackGlobal("torch._utils", "_rebuild_tensor").Mark();
        Storage(p).Int(4).IntTuple(new long[] { 2 }).IntTuple(new long[] { 1 }).Tuple().Reduce();
        // "c": _rebuild_parameter_with_state(_rebuild_tensor_v2(...), True, OrderedDict(), {})
        Short(p, "c").StackGlobal("torch._utils", "_rebuild_parameter_with_state").Mark()
            .Raw((byte)'h', 2).Mark(); // BINGET the memoized _rebuild_tensor_v2
        Storage(p).Int(1).IntTuple(new long[] { 5 }).IntTuple(new long[] { 1 }).False().OrderedDict().Tuple().Reduce()
            .Raw(0x88).OrderedDict().EmptyDict().Tuple().Reduce();
        p.Raw((byte)'u').Stop(); // SETITEMS

        var path = dir.File("p4.pth");
        PthBuilder.WriteZip(path, p.Bytes(), new Dictionary<string, byte[]> { ["0"] = w.bytes.ToArray() });
        using var sd = PthReader.Read(path);
        Assert.Equal(new[] { "a", "b", "c" }, sd.Keys);
        var all = w.data<float>().ToArray();
        Assert.Equal(all, sd["a"].data<float>().ToArray());
        Assert.Equal(new long[] { 2, 3 }, sd["a"].shape);
        Assert.Equal(all[4..6], sd["b"].data<float>().ToArray());
        Assert.Equal(all[1..6], sd["c"].data<float>().ToArray());
    }

    [Fact]
    public void ParameterWithPythonStateIsRejected()
    {
        using var dir = new Shared.TempDir();
        var p = new PickleBuilder().Proto().OrderedDict().Str("a").Global("torch._utils", "_rebuild_parameter_with_state").Mark()
            .Tensor("FloatStorage", "0", 1, 0, new long[] { 1 }, new long[] { 1 }).Raw(0x88).OrderedDict()
            .EmptyDict().Str("x").Int(1).SetItem().Tuple().Reduce().SetItem().Stop().Bytes();
        var path = dir.File("state.pth");
        using var w = ones(1);
        PthBuilder.WriteZip(path, p, new Dictionary<string, byte[]> { ["0"] = w.bytes.ToArray() });
        Assert.Contains("non-empty Python state", Fails(path).Message);
    }

    [Fact]
    public void DictWithoutStateDictIsRejectedNamingTheEntry()
    {
        using var dir = new Shared.TempDir();
        var path = dir.File("epoch.pth");
        var p = new PickleBuilder().Proto().EmptyDict().Str("epoch").Int(3).SetItem().Stop().Bytes();
        PthBuilder.WritePickleOnly(path, p);
        var e = Fails(path);
        Assert.Contains("entry 'epoch' is a int", e.Message);
        Assert.StartsWith(path + ":", e.Message);
    }

    // ---- code execution attempts ----

    [Fact]
    public void OsSystemGlobalIsRejectedByNameAndNeverRuns()
    {
        using var dir = new Shared.TempDir();
        var marker = dir.File("pwned");
        var path = dir.File("evil.pth");
        var p = new PickleBuilder().Proto().Global("os", "system").Str($"touch '{marker}'").Raw(0x85).Reduce().Stop().Bytes();
        PthBuilder.WritePickleOnly(path, p);
        var e = Fails(path);
        Assert.Contains("disallowed global 'os.system' in data.pkl", e.Message);
        Assert.IsAssignableFrom<CmtmException>(e);
        e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Describe(path));
        Assert.Contains("os.system", e.Message);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public void BuiltinsEvalViaStackGlobalIsRejected()
    {
        using var dir = new Shared.TempDir();
        var marker = dir.File("pwned");
        var path = dir.File("eval.pth");
        var p = new PickleBuilder().Proto(4).StackGlobal("builtins", "eval")
            .Str($"open('{marker}', 'w').write('x')").Raw(0x85).Reduce().Stop().Bytes();
        PthBuilder.WritePickleOnly(path, p);
        Assert.Contains("disallowed global 'builtins.eval'", Fails(path).Message);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public void DisallowedGlobalHiddenAfterValidTensorsIsRejected()
    {
        using var dir = new Shared.TempDir();
        using var w = Sample(ScalarType.Float32, 4);
        var p = new PickleBuilder().Proto().OrderedDict()
            .Str("a").Tensor("FloatStorage", "0", 4, 0, new long[] { 4 }, new long[] { 1 }).SetItem()
            .Str("b").Global("subprocess", "Popen").Mark().Str("ls").Tuple().Reduce().SetItem().Stop().Bytes();
        var path = dir.File("hidden.pth");
        PthBuilder.WriteZip(path, p, new Dictionary<string, byte[]> { ["0"] = w.bytes.ToArray() });
        Assert.Contains("disallowed global 'subprocess.Popen'", Fails(path).Message);
    }

    [Theory]
    [InlineData((byte)'i')] // INST: instantiates a class from a name
    [InlineData((byte)'o')] // OBJ
    [InlineData((byte)0x82)] // EXT1: extension registry
    [InlineData((byte)0xff)]
    public void UnknownOrCodeExecutingOpcodesAreNamedWithOffset(byte op)
    {
        using var dir = new Shared.TempDir();
        var path = dir.File("op.pth");
        PthBuilder.WritePickleOnly(path, new PickleBuilder().Proto().EmptyDict().Raw(op, 0, 0, 0, 0).Stop().Bytes());
        var e = Fails(path);
        Assert.Contains($"unsupported pickle opcode 0x{op:x2}", e.Message);
        Assert.Contains("at offset 3 of data.pkl", e.Message);
    }

    [Fact]
    public void DeepNestingAndMalformedStacksAreNamedErrors()
    {
        using var dir = new Shared.TempDir();
        var path = dir.File("deep.pth");
        var deep = new PickleBuilder().Proto();
        for (int i = 0; i < 20_000; i++) deep.Mark();
        PthBuilder.WritePickleOnly(path, deep.Stop().Bytes());
        Assert.Contains("nesting deeper than", Fails(path).Message);

        PthBuilder.WritePickleOnly(path, new PickleBuilder().Proto().SetItem().Stop().Bytes());
        Assert.Contains("stack underflow", Fails(path).Message);

        PthBuilder.WritePickleOnly(path, new PickleBuilder().Proto().Raw((byte)'h', 9).Stop().Bytes());
        Assert.Contains("memo key 9 not defined", Fails(path).Message);

        PthBuilder.WritePickleOnly(path, new PickleBuilder().Proto().EmptyDict().Bytes());
        Assert.Contains("no STOP", Fails(path).Message);

        // A string length far beyond the data: rejected before allocating.
        PthBuilder.WritePickleOnly(path, new PickleBuilder().Proto().Raw((byte)'X', 0xff, 0xff, 0xff, 0x7f).Stop().Bytes());
        Assert.Contains("truncated pickle", Fails(path).Message);
    }

    // ---- broken sizes ----

    [Fact]
    public void StorageShorterThanTensorIsNamed()
    {
        using var dir = new Shared.TempDir();
        using var w = Sample(ScalarType.Float32, 4);
        var path = dir.File("short.pth");
        PthBuilder.WriteZip(path, PthBuilder.StateDictPickle(new[] { new TensorSpec("w", "FloatStorage", "0", 4, 0, new long[] { 3, 3 }, new long[] { 3, 1 }) }),
            new Dictionary<string, byte[]> { ["0"] = w.bytes.ToArray() });
        var e = Fails(path);
        Assert.Contains("tensor 'w' (3, 3)", e.Message);
        Assert.Contains("needs 9 elements but its storage 'data/0' has only 4", e.Message);

        // The pickle claims 9 elements but the zip entry holds 4.
        PthBuilder.WriteZip(path, PthBuilder.StateDictPickle(new[] { new TensorSpec("w", "FloatStorage", "0", 9, 0, new long[] { 3, 3 }, new long[] { 3, 1 }) }),
            new Dictionary<string, byte[]> { ["0"] = w.bytes.ToArray() });
        Assert.Contains("storage 'data/0' holds 16 bytes but data.pkl declares 9 x float32 = 36 bytes", Fails(path).Message);

        // Missing storage entry.
        PthBuilder.WriteZip(path, PthBuilder.StateDictPickle(new[] { new TensorSpec("w", "FloatStorage", "7", 4, 0, new long[] { 4 }, new long[] { 1 }) }),
            new Dictionary<string, byte[]> { ["0"] = w.bytes.ToArray() });
        Assert.Contains("storage entry 'data/7' is missing", Fails(path).Message);
    }

    [Fact]
    public void HugeDeclaredSizesFailBeforeAllocating()
    {
        using var dir = new Shared.TempDir();
        using var w = Sample(ScalarType.Float32, 4);
        var storages = new Dictionary<string, byte[]> { ["0"] = w.bytes.ToArray() };
        var path = dir.File("huge.pth");
        const long T = 1L << 40;

        PthBuilder.WriteZip(path, PthBuilder.StateDictPickle(new[] { new TensorSpec("w", "FloatStorage", "0", 4, 0, new long[] { T, T }, new long[] { T, 1 }) }), storages);
        Assert.Contains("overflows", Fails(path).Message);

        // A 9-byte LONG1 (beyond int64) as a dimension.
        var p = new PickleBuilder().Proto().OrderedDict().Str("w").Global("torch._utils", "_rebuild_tensor_v2").Mark()
            .Mark().Str("storage").Global("torch", "FloatStorage").Str("0").Str("cpu").Int(4).Tuple().Raw((byte)'Q')
            .Int(0).Mark().Raw(0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1).Tuple().Mark().Int(1).Tuple().False().OrderedDict().Tuple().Reduce()
            .SetItem().Stop().Bytes();
        PthBuilder.WriteZip(path, p, storages);
        Assert.Contains("tensor size holds a int, not a 64-bit integer", Fails(path).Message);

        PthBuilder.WriteZip(path, PthBuilder.StateDictPickle(new[] { new TensorSpec("w", "FloatStorage", "0", 4, 0, new long[] { T }, new long[] { 1 }) }), storages);
        Assert.Contains($"needs {T} elements", Fails(path).Message);

        PthBuilder.WriteZip(path, PthBuilder.StateDictPickle(new[] { new TensorSpec("w", "FloatStorage", "0", T, 0, new long[] { T }, new long[] { 1 }) }), storages);
        Assert.Contains("holds 16 bytes but data.pkl declares", Fails(path).Message);

        PthBuilder.WriteZip(path, PthBuilder.StateDictPickle(new[] { new TensorSpec("w", "FloatStorage", "0", long.MaxValue / 2, 0, new long[] { 4 }, new long[] { 1 }) }), storages);
        Assert.Contains("absurd size", Fails(path).Message);

        PthBuilder.WriteZip(path, PthBuilder.StateDictPickle(new[] { new TensorSpec("w", "FloatStorage", "0", 4, 0, new long[] { -4 }, new long[] { 1 }) }), storages);
        Assert.Contains("negative tensor size", Fails(path).Message);
    }

    // ---- broken archives ----

    private static string SmallValid(Shared.TempDir dir, string name = "ok.pth", CompressionLevel level = CompressionLevel.NoCompression)
    {
        using var w = zeros(64, dtype: ScalarType.Float32);
        var path = dir.File(name);
        PthBuilder.WriteZip(path, PthBuilder.StateDictPickle(new[] { new TensorSpec("w", "FloatStorage", "0", 64, 0, new long[] { 64 }, new long[] { 1 }) }),
            new Dictionary<string, byte[]> { ["0"] = w.bytes.ToArray() }, level);
        return path;
    }

    [Fact]
    public void TruncatedZipIsNamed()
    {
        using var dir = new Shared.TempDir();
        var bytes = File.ReadAllBytes(SmallValid(dir));
        foreach (var frac in new[] { 0.1, 0.5, 0.95 })
        {
            var path = dir.File($"trunc{frac}.pth");
            File.WriteAllBytes(path, bytes[..(int)(bytes.Length * frac)]);
            var e = Fails(path);
            Assert.Contains("zip", e.Message);
            Assert.Throws<CheckpointFormatException>(() => { using var _ = CheckpointReader.Load(path); });
        }
    }

    [Fact]
    public void LegacyNonZipAndMissingFilesAreNamed()
    {
        using var dir = new Shared.TempDir();
        var legacy = dir.File("legacy.pth");
        // Legacy torch.save starts with a pickled magic number: PROTO 2, LONG1 0x1950a86a20f9469cfc6c.
        File.WriteAllBytes(legacy, new byte[] { 0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e });
        Assert.Contains("legacy torch.save format is not supported: re-save with torch>=1.6", Fails(legacy).Message);
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Load(legacy));
        Assert.Contains("legacy torch.save format", e.Message);

        var junk = dir.File("junk.pth");
        File.WriteAllText(junk, "hello world, not a checkpoint");
        Assert.Contains("unrecognised checkpoint format", Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Load(junk)).Message);
        Assert.Contains("no zip signature", Fails(junk).Message);

        var missing = dir.File("nope.pth");
        Assert.Equal($"{missing}: file not found", Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Load(missing)).Message);
        Assert.Contains("file not found", Fails(missing).Message);
    }

    [Fact]
    public void BigEndianByteOrderIsRejected()
    {
        using var dir = new Shared.TempDir();
        var path = SmallValid(dir);
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Update))
        using (var s = zip.CreateEntry("archive/byteorder").Open())
            s.Write(Encoding.ASCII.GetBytes("big"));
        Assert.Contains("byte order 'big' is not supported", Fails(path).Message);
    }

    /// <summary>Overwrites the uncompressed-size fields of an entry in both the local and the central header.</summary>
    private static void PatchUncompressedSize(string path, string entry, uint size)
    {
        var b = File.ReadAllBytes(path);
        var name = Encoding.ASCII.GetBytes(entry);
        for (int i = 0; i + 46 < b.Length; i++)
        {
            uint sig = BitConverter.ToUInt32(b, i);
            if (sig == 0x04034b50 && b.AsSpan(i + 30, name.Length).SequenceEqual(name) && BitConverter.ToUInt16(b, i + 26) == name.Length)
                BitConverter.GetBytes(size).CopyTo(b, i + 22);
            if (sig == 0x02014b50 && b.AsSpan(i + 46, Math.Min(name.Length, b.Length - i - 46)).SequenceEqual(name) && BitConverter.ToUInt16(b, i + 28) == name.Length)
                BitConverter.GetBytes(size).CopyTo(b, i + 24);
        }
        File.WriteAllBytes(path, b);
    }

    [Fact]
    public void CompressedEntriesAreBoundedAndSizeChecked()
    {
        using var dir = new Shared.TempDir();
        // A deflated archive with honest sizes still loads.
        var path = SmallValid(dir, "deflated.pth", CompressionLevel.Optimal);
        using (var sd = PthReader.Read(path)) Assert.Equal(64, sd["w"].numel());

        // Zip bomb: a compressed entry declaring 2 GB is refused before inflating.
        PatchUncompressedSize(path, "archive/data/0", 2_000_000_000);
        var e = Fails(path);
        Assert.Contains("compressed zip entry 'archive/data/0' declares 2000000000 bytes uncompressed", e.Message);

        // Declared size smaller than the real content (pickle agrees with the lie: 9 elements = 36 bytes).
        using var w = zeros(64, dtype: ScalarType.Float32);
        var liar = dir.File("liar.pth");
        PthBuilder.WriteZip(liar, PthBuilder.StateDictPickle(new[] { new TensorSpec("w", "FloatStorage", "0", 9, 0, new long[] { 9 }, new long[] { 1 }) }),
            new Dictionary<string, byte[]> { ["0"] = w.bytes.ToArray() }, CompressionLevel.Optimal);
        PatchUncompressedSize(liar, "archive/data/0", 36);
        Assert.Contains("zip entry 'archive/data/0' fails its CRC check", Fails(liar).Message);
    }
}
