using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using Cmtm.IO.Checkpoints;
using Cmtm.Runtime;
using static TorchSharp.torch;

namespace Cmtm.Tests.IO.Checkpoints;

/// <summary>How one fuzz case ended. Only <see cref="Loaded"/> and <see cref="Rejected"/> are acceptable.</summary>
public enum FuzzOutcome
{
    /// <summary>The mutated file still loaded (the mutation hit something harmless).</summary>
    Loaded,
    /// <summary>Refused with a <see cref="CmtmException"/> naming the file and the problem.</summary>
    Rejected,
    /// <summary>Any other exception type escaped the reader (a bug).</summary>
    Crashed,
    /// <summary>The reader did not finish within the time bound (a bug).</summary>
    Hung,
    /// <summary>The reader allocated more than the bound derived from the file's size (a bug).</summary>
    OverAllocated,
}

public sealed record FuzzCase(int Index, string Format, string Mutation, FuzzOutcome Outcome, string Detail, double Seconds, long FileBytes, long ManagedBytes)
{
    public bool Ok => Outcome is FuzzOutcome.Loaded or FuzzOutcome.Rejected;
    public override string ToString() => $"#{Index} {Format}/{Mutation}: {Outcome} ({Seconds * 1000:0} ms, file {FileBytes} B, managed {ManagedBytes} B) {Detail}";
}

public sealed record FuzzSummary(IReadOnlyList<FuzzCase> Cases, double Seconds)
{
    public IReadOnlyDictionary<FuzzOutcome, int> ByOutcome =>
        Enum.GetValues<FuzzOutcome>().ToDictionary(o => o, o => Cases.Count(c => c.Outcome == o));
    public IReadOnlyList<FuzzCase> Failures => Cases.Where(c => !c.Ok).ToList();
    public IEnumerable<(string Mutation, int Loaded, int Rejected, int Failed)> ByMutation =>
        Cases.GroupBy(c => c.Format + "/" + c.Mutation).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => (g.Key, g.Count(c => c.Outcome == FuzzOutcome.Loaded), g.Count(c => c.Outcome == FuzzOutcome.Rejected), g.Count(c => !c.Ok)));
}

/// <summary>
/// Deterministic fuzzer for the checkpoint readers (test tooling: <see cref="CheckpointFuzzTests"/>; a long campaign runs
/// with the Benchmark trait). From small valid seed files (a torch.save-style .pth with
/// a contiguous tensor, a half tensor, an int64 tensor and a view sharing a storage, and a safetensors file) it derives
/// mutated files - byte flips, truncation, huge lengths / shapes / element counts, wrong dtypes, negative or
/// stride-0 views, nested and self-referencing pickles, disallowed globals, hostile pickle opcodes, lying and bombing
/// zip entries, broken JSON headers - and loads each with <see cref="CheckpointReader.Load"/>. Case <c>i</c> depends
/// only on (seed, i). Every case must end in success or a <see cref="CmtmException"/>, within <see cref="CaseTimeout"/>,
/// allocating (managed) at most <see cref="AllocationBound"/> of the file size.
/// </summary>
public sealed class CheckpointFuzzer
{
    private readonly int seed;
    private readonly string workDir;
    private readonly byte[] seedPth, seedSafetensors;

    public TimeSpan CaseTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Managed bytes a case may allocate: 128 x the file size + 32 MB. Linear in the file on purpose: one pickle opcode
    /// byte (e.g. EMPTY_LIST) legitimately creates one object of ~100 bytes, but no declared length, count or shape may
    /// make the reader allocate more than the bytes that are actually there (those cases hit gigabytes, not this bound).
    /// Tensor data is native memory and is bounded separately (<see cref="PthReader.MaxViewExpansion"/>).
    /// </summary>
    public static long AllocationBound(long fileBytes) => 128 * fileBytes + (32L << 20);

    public CheckpointFuzzer(int seed, string workDir)
    {
        this.seed = seed;
        this.workDir = workDir;
        Directory.CreateDirectory(workDir);
        seedPth = Pth.Build(Pth.DefaultTensors(), wrapper: null);
        seedSafetensors = BuildSafetensors(workDir);
    }

    public static readonly string[] PthMutations =
    [
        "byte-flip", "truncate", "pickle-byte-flip", "pickle-truncate", "huge-shape", "negative-view", "stride0-expand",
        "many-views", "wrong-dtype", "huge-numel", "disallowed-global", "nested-pickle", "self-reference", "huge-length-opcode",
        "random-opcodes", "zip-bomb", "zip-lies", "not-a-state-dict",
    ];

    public static readonly string[] SafetensorsMutations =
    [
        "byte-flip", "truncate", "header-length", "bad-dtype", "huge-shape", "bad-offsets", "bad-json", "deep-json", "bad-metadata",
    ];

    /// <summary>Runs cases 0..count-1 (stops early when <paramref name="budget"/> is spent), reporting each.</summary>
    public FuzzSummary Run(int count, Action<FuzzCase>? onCase = null, TimeSpan? budget = null)
    {
        var sw = Stopwatch.StartNew();
        var cases = new List<FuzzCase>(count);
        for (int i = 0; i < count; i++)
        {
            if (budget is TimeSpan b && sw.Elapsed > b) break;
            var c = RunCase(i);
            cases.Add(c);
            onCase?.Invoke(c);
        }
        return new FuzzSummary(cases, sw.Elapsed.TotalSeconds);
    }

    /// <summary>Builds case <paramref name="index"/> (two thirds .pth, one third safetensors) and loads it.</summary>
    public FuzzCase RunCase(int index)
    {
        var rng = new Random(HashCode.Combine(seed, index) ^ (index * 7919));
        bool pth = index % 3 != 2;
        string mutation = pth ? PthMutations[rng.Next(PthMutations.Length)] : SafetensorsMutations[rng.Next(SafetensorsMutations.Length)];
        byte[] bytes = pth ? MutatePth(mutation, rng) : MutateSafetensors(mutation, rng);
        var path = Path.Combine(workDir, $"case{index:00000}{(pth ? ".pth" : ".safetensors")}");
        File.WriteAllBytes(path, bytes);
        try { return Load(index, pth ? "pth" : "safetensors", mutation, path, bytes.Length); }
        finally { try { File.Delete(path); } catch (IOException) { } }
    }

    private FuzzCase Load(int index, string format, string mutation, string path, long fileBytes)
    {
        FuzzOutcome outcome = FuzzOutcome.Loaded;
        string detail = "";
        long managed = 0;
        var sw = Stopwatch.StartNew();
        var task = Task.Factory.StartNew(() =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                using var sd = CheckpointReader.Load(path);
                long tensorBytes = sd.Keys.Sum(k => sd[k].NumberOfElements * sd[k].ElementSize);
                managed = GC.GetAllocatedBytesForCurrentThread() - before;
                // the reader never materialises more than the storage views bound allows (4)
                if (tensorBytes > PthReader.MaxViewExpansion * fileBytes + (1 << 20))
                    return (FuzzOutcome.OverAllocated, $"{sd.Count} tensors, {tensorBytes} bytes from a {fileBytes}-byte file");
                return (FuzzOutcome.Loaded, $"{sd.Count} tensors");
            }
            catch (CmtmException e) { managed = GC.GetAllocatedBytesForCurrentThread() - before; return (FuzzOutcome.Rejected, e.Message); }
            catch (Exception e) { managed = GC.GetAllocatedBytesForCurrentThread() - before; return (FuzzOutcome.Crashed, $"{e.GetType().Name}: {e.Message}"); }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        if (!task.Wait(CaseTimeout)) { outcome = FuzzOutcome.Hung; detail = $"no result after {CaseTimeout.TotalSeconds:0} s"; }
        else (outcome, detail) = task.Result;
        if (outcome is FuzzOutcome.Loaded or FuzzOutcome.Rejected && managed > AllocationBound(fileBytes))
        {
            detail = $"allocated {managed} managed bytes for a {fileBytes}-byte file ({outcome}: {detail})";
            outcome = FuzzOutcome.OverAllocated;
        }
        return new FuzzCase(index, format, mutation, outcome, detail.Replace(path, "<file>"), sw.Elapsed.TotalSeconds, fileBytes, managed);
    }

    // ------------------------------------------------------------------ .pth mutations

    private byte[] MutatePth(string mutation, Random rng)
    {
        var t = Pth.DefaultTensors();
        switch (mutation)
        {
            case "byte-flip": return Flip(seedPth, rng);
            case "truncate": return seedPth[..rng.Next(seedPth.Length)];
            case "pickle-byte-flip": return Pth.Zip(Flip(Pth.Pickle(t, null), rng), Pth.Storages(t));
            case "pickle-truncate": { var p = Pth.Pickle(t, null); return Pth.Zip(p[..rng.Next(p.Length)], Pth.Storages(t)); }
            case "huge-shape":
            {
                long big = rng.Next(3) switch { 0 => 1L << 40, 1 => long.MaxValue / 2, _ => 1L << rng.Next(20, 62) };
                t[0] = t[0] with { Size = [big, big], Stride = [big, 1] };
                return Pth.Build(t, null);
            }
            case "negative-view":
                t[0] = rng.Next(3) switch
                {
                    0 => t[0] with { Size = [-4, 3] },
                    1 => t[0] with { Stride = [-3, 1], Offset = 9 },
                    _ => t[0] with { Offset = rng.Next(2) == 0 ? -1 : 1000 },
                };
                return Pth.Build(t, null);
            case "stride0-expand":
            {
                // a 1-element storage viewed as a huge tensor: fits the storage, but would materialise gigabytes
                long n = 1L << rng.Next(16, 31);
                t[0] = t[0] with { Size = [n, n], Stride = [0, 0], Offset = 0 };
                return Pth.Build(t, null);
            }
            case "many-views":
            {
                int k = rng.Next(100, 3000);
                var views = new List<Pth.Spec>(t);
                for (int i = 0; i < k; i++) views.Add(t[0] with { Key = $"view{i}" });
                return Pth.Build(views, null);
            }
            case "wrong-dtype":
            {
                string[] types = ["LongStorage", "HalfStorage", "DoubleStorage", "ByteStorage", "BoolStorage", "ComplexFloatStorage", "QInt8Storage", "UntypedStorage", "FooStorage"];
                t[rng.Next(t.Count)] = t[rng.Next(t.Count)] with { StorageType = types[rng.Next(types.Length)] };
                return Pth.Build(t, null);
            }
            case "huge-numel":
                t[0] = t[0] with { StorageNumel = rng.Next(2) == 0 ? long.MaxValue : 1L << rng.Next(31, 62) };
                return Pth.Build(t, null);
            case "disallowed-global": return Pth.Zip(DisallowedGlobal(rng), Pth.Storages(t));
            case "nested-pickle": return Pth.Zip(Nested(rng), Pth.Storages(t));
            case "self-reference": return Pth.Zip(SelfReference(rng), Pth.Storages(t));
            case "huge-length-opcode": return Pth.Zip(HugeLengthOpcode(rng), Pth.Storages(t));
            case "random-opcodes":
            {
                var p = new byte[rng.Next(1, 4000)];
                rng.NextBytes(p);
                p[0] = 0x80; if (p.Length > 1) p[1] = 2;
                return Pth.Zip(p, Pth.Storages(t));
            }
            case "zip-bomb": return ZipBomb(rng, t);
            case "zip-lies": return ZipLies(rng, t);
            case "not-a-state-dict": return Pth.Zip(NotAStateDict(rng), Pth.Storages(t));
            default: throw new ArgumentOutOfRangeException(nameof(mutation));
        }
    }

    private static byte[] Flip(byte[] src, Random rng)
    {
        var b = (byte[])src.Clone();
        int n = 1 + rng.Next(16);
        for (int i = 0; i < n; i++) b[rng.Next(b.Length)] ^= (byte)(1 + rng.Next(255));
        return b;
    }

    private static byte[] DisallowedGlobal(Random rng)
    {
        (string M, string N)[] globals =
        [
            ("os", "system"), ("posix", "system"), ("builtins", "eval"), ("builtins", "exec"), ("__builtin__", "getattr"),
            ("subprocess", "Popen"), ("torch", "load"), ("pickle", "loads"), ("torch.nn.modules.linear", "Linear"),
            ("numpy.core.multiarray", "_reconstruct"), ("torch._utils", "_rebuild_tensor_v2x"), ("collections", "OrderedDictx"),
        ];
        var (m, n) = globals[rng.Next(globals.Length)];
        var p = new PickleBuilder().Proto();
        if (rng.Next(2) == 0) p.Global(m, n); else p.Str(m).Str(n).Raw(0x93);
        switch (rng.Next(4))
        {
            case 0: p.Mark().Str("echo pwned").Tuple().Raw((byte)'R'); break; // REDUCE
            case 1: p.EmptyTuple().Raw(0x81); break; // NEWOBJ
            case 2: p.EmptyDict().Raw((byte)'b'); break; // BUILD on the global
            default: p.Mark().Str("x").Tuple().Raw((byte)'R').EmptyDict().Raw((byte)'b'); break;
        }
        // hide it inside an otherwise valid state dict half of the time
        if (rng.Next(2) == 0) return p.Stop().Bytes();
        var outer = new PickleBuilder().Proto().OrderedDict().Str("weight");
        return outer.Raw(p.Bytes()[2..]).Raw((byte)'s').Stop().Bytes();
    }

    private static byte[] Nested(Random rng)
    {
        var p = new PickleBuilder().Proto();
        int depth = rng.Next(2) == 0 ? rng.Next(1000, 20_000) : rng.Next(100_000, 300_000);
        switch (rng.Next(4))
        {
            case 0: for (int i = 0; i < depth; i++) p.Raw((byte)'('); break; // MARK bombs
            case 1: p.Raw((byte)']'); for (int i = 0; i < depth; i++) p.Raw((byte)']', (byte)'a'); break; // lists nested by APPEND? (append new list into the previous one)
            case 2: for (int i = 0; i < depth; i++) p.Raw((byte)']'); for (int i = 0; i < depth - 1; i++) p.Raw((byte)'a'); break; // deep list chain
            default:
                // a pickle inside a pickle: bytes holding a full state-dict pickle, passed to an (unlisted) loader
                var inner = Pth.Pickle(Pth.DefaultTensors(), null);
                p.Global("pickle", "loads").Raw((byte)'B').Raw(BitConverter.GetBytes(inner.Length)).Raw(inner).Raw(0x85).Raw((byte)'R');
                break;
        }
        return p.Stop().Bytes();
    }

    private static byte[] SelfReference(Random rng)
    {
        // OrderedDict whose value is a list containing itself, or a dict containing itself, memoised and fetched back
        var p = new PickleBuilder().Proto();
        if (rng.Next(2) == 0)
            p.OrderedDict().Raw((byte)'q', 0).Str("weight").Raw((byte)'h', 0).Raw((byte)'s');
        else
            p.OrderedDict().Str("weight").Raw((byte)']', (byte)'q', 1, (byte)'h', 1, (byte)'a').Raw((byte)'s');
        return p.Stop().Bytes();
    }

    private static byte[] HugeLengthOpcode(Random rng)
    {
        var p = new PickleBuilder().Proto();
        switch (rng.Next(9))
        {
            case 0: p.Raw((byte)'X').Raw(BitConverter.GetBytes(0xFFFFFFF0u)); break; // BINUNICODE
            case 1: p.Raw(0x8d).Raw(BitConverter.GetBytes(1L << 60)); break; // BINUNICODE8
            case 2: p.Raw(0x8e).Raw(BitConverter.GetBytes(long.MaxValue)); break; // BINBYTES8
            case 3: p.Raw(0x8b).Raw(BitConverter.GetBytes(int.MaxValue)); break; // LONG4
            case 4: p.Raw(0x95).Raw(BitConverter.GetBytes(1L << 62)); break; // FRAME
            case 5: p.Raw((byte)'j').Raw(BitConverter.GetBytes(0xFFFFFFFFu)); break; // LONG_BINGET
            case 6: p.Raw((byte)'r').Raw(BitConverter.GetBytes(0x7FFFFFFFu)).Raw((byte)'N'); break; // LONG_BINPUT huge index
            case 7: p.Raw((byte)'T').Raw(BitConverter.GetBytes(-5)); break; // BINSTRING negative
            default: for (int i = 0; i < 100_000; i++) p.Raw((byte)'N', 0x94); break; // memo flood
        }
        return p.Stop().Bytes();
    }

    private static byte[] NotAStateDict(Random rng)
    {
        var p = new PickleBuilder().Proto();
        switch (rng.Next(5))
        {
            case 0: p.Raw((byte)'N'); break;
            case 1: p.Int(42); break;
            case 2: p.Raw((byte)']'); break;
            case 3: p.OrderedDict().Int(1).Int(2).Raw((byte)'s'); break; // non-string key
            default: p.OrderedDict().Str("state_dict").Str("not a dict").Raw((byte)'s'); break;
        }
        return p.Stop().Bytes();
    }

    private static byte[] ZipBomb(Random rng, List<Pth.Spec> t)
    {
        // 8 MB of zeros deflated (a few KB) declared as anything from 8 MB to 2^40 bytes, in data.pkl or a storage
        var zeros = new byte[8 << 20];
        byte[] deflated;
        using (var ms = new MemoryStream())
        {
            using (var d = new DeflateStream(ms, CompressionLevel.Fastest, leaveOpen: true)) d.Write(zeros);
            deflated = ms.ToArray();
        }
        long declared = rng.Next(3) switch { 0 => zeros.Length, 1 => 1L << rng.Next(30, 41), _ => 600L << 20 };
        var entries = new List<Pth.ZipEntry>();
        var pickle = Pth.Pickle(t, null);
        bool inPickle = rng.Next(2) == 0;
        entries.Add(inPickle
            ? new Pth.ZipEntry("archive/data.pkl", deflated, declared, System.IO.Hashing.Crc32.HashToUInt32(zeros), Deflate: true)
            : new Pth.ZipEntry("archive/data.pkl", pickle, pickle.Length, System.IO.Hashing.Crc32.HashToUInt32(pickle), Deflate: false));
        foreach (var (k, v) in Pth.Storages(t))
        {
            bool bomb = !inPickle && k == "0";
            entries.Add(bomb
                ? new Pth.ZipEntry("archive/data/" + k, deflated, declared, System.IO.Hashing.Crc32.HashToUInt32(zeros), Deflate: true)
                : new Pth.ZipEntry("archive/data/" + k, v, v.Length, System.IO.Hashing.Crc32.HashToUInt32(v), Deflate: false));
        }
        return Pth.RawZip(entries);
    }

    private static byte[] ZipLies(Random rng, List<Pth.Spec> t)
    {
        var pickle = Pth.Pickle(t, null);
        var entries = new List<Pth.ZipEntry> { new("archive/data.pkl", pickle, pickle.Length, System.IO.Hashing.Crc32.HashToUInt32(pickle), false) };
        foreach (var (k, v) in Pth.Storages(t)) entries.Add(new("archive/data/" + k, v, v.Length, System.IO.Hashing.Crc32.HashToUInt32(v), false));
        int victim = rng.Next(entries.Count);
        var e = entries[victim];
        switch (rng.Next(6))
        {
            case 0: entries[victim] = e with { Declared = e.Declared + rng.Next(1, 1 << 20) }; break; // claims more than stored
            case 1: entries[victim] = e with { Declared = Math.Max(0, e.Declared - rng.Next(1, 8)) }; break; // claims less
            case 2: entries[victim] = e with { Crc = e.Crc ^ 0x5A5A5A5Au }; break; // wrong CRC
            case 3: entries.Add(e); break; // duplicate entry
            case 4: entries.RemoveAt(victim); break; // missing entry (data.pkl or a storage)
            default: entries[victim] = e with { Declared = -1L & 0xFFFFFFFFL }; break; // 4 GB - 1
        }
        return Pth.RawZip(entries);
    }

    // ------------------------------------------------------------------ safetensors mutations

    private static byte[] BuildSafetensors(string dir)
    {
        var path = Path.Combine(dir, "seed.safetensors");
        using (var scope = NewDisposeScope()) // holds (and frees) every tensor, the unnamed arange result too
        {
            var a = Scalars.Arange(12, ScalarType.Float32).reshape(4, 3);
            var b = Scalars.Arange(5, ScalarType.Int64);
            var c = ones(2, 2, dtype: ScalarType.Float16);
            SafeTensors.Write(path, [("a.weight", a), ("b.index", b), ("c.half", c)], new Dictionary<string, string> { ["format"] = "pt" });
        }
        var bytes = File.ReadAllBytes(path);
        File.Delete(path);
        return bytes;
    }

    private byte[] MutateSafetensors(string mutation, Random rng)
    {
        var s = seedSafetensors;
        long headerLen = BinaryPrimitives.ReadInt64LittleEndian(s);
        string header = Encoding.UTF8.GetString(s, 8, (int)headerLen);
        byte[] data = s[(8 + (int)headerLen)..];
        switch (mutation)
        {
            case "byte-flip": return Flip(s, rng);
            case "truncate": return s[..rng.Next(s.Length)];
            case "header-length":
            {
                var b = (byte[])s.Clone();
                ulong n = rng.Next(5) switch { 0 => 0, 1 => ulong.MaxValue, 2 => (ulong)s.Length, 3 => SafeTensors.MaxHeaderBytes - 1, _ => (ulong)rng.Next(1, 200) };
                BinaryPrimitives.WriteUInt64LittleEndian(b, n);
                return b;
            }
            case "bad-dtype":
            {
                string[] dtypes = ["F8_E4M3", "C64", "U64", "F99", "", "f32", "I32", "F16", "BOOL"];
                var bad = rng.Next(4) == 0 ? "7" : $"\"{dtypes[rng.Next(dtypes.Length)]}\"";
                return Safetensors(ReplaceFirst(header, "\"F32\"", bad), data);
            }
            case "huge-shape":
            {
                string[] shapes = ["[1099511627776,1099511627776]", "[-4,3]", "[4.5,3]", "[\"4\",3]", "[[4],3]", "[9223372036854775807,2]",
                    "[" + string.Join(",", Enumerable.Repeat("1", 100)) + "]", "[0]", "[3,4]", "[12]", "null", "{}"];
                return Safetensors(ReplaceFirst(header, "[4,3]", shapes[rng.Next(shapes.Length)]), data);
            }
            case "bad-offsets":
            {
                string[] offsets = ["[0,4800]", "[-48,0]", "[48,0]", "[\"0\",48]", "[0.5,48]", "[0,48,96]", "[0]", "[8,56]", "[0,9223372036854775807]", "null", "[40,88]", "[{},48]"];
                return Safetensors(ReplaceFirst(header, "[0,48]", offsets[rng.Next(offsets.Length)]), data);
            }
            case "bad-json":
            {
                var h = Encoding.UTF8.GetBytes(header);
                switch (rng.Next(5))
                {
                    case 0: h[rng.Next(h.Length)] = (byte)"{}[]\",:\\"[rng.Next(8)]; break;
                    case 1: h[rng.Next(h.Length)] = 0xFF; break; // invalid UTF-8
                    case 2: return Safetensors("[1,2,3]", data);
                    case 3: return Safetensors(header.TrimEnd() + "x", data);
                    default: return Safetensors(header.Replace("\"b.index\"", "\"a.weight\""), data); // duplicate key
                }
                return SafetensorsRaw(h, data);
            }
            case "deep-json":
            {
                int depth = rng.Next(20, 100_000);
                var deep = new string('[', depth) + new string(']', depth);
                return Safetensors(ReplaceFirst(header, "\"pt\"", deep), data);
            }
            case "bad-metadata":
            {
                string[] values = ["1", "null", "[\"a\"]", "{\"x\":1}", "\"" + new string('m', rng.Next(1, 100_000)) + "\""];
                return Safetensors(ReplaceFirst(header, "\"pt\"", values[rng.Next(values.Length)]), data);
            }
            default: throw new ArgumentOutOfRangeException(nameof(mutation));
        }
    }

    private static string ReplaceFirst(string s, string what, string with)
    {
        int i = s.IndexOf(what, StringComparison.Ordinal);
        if (i < 0) throw new InvalidOperationException($"seed header lacks {what}: {s}");
        return s[..i] + with + s[(i + what.Length)..];
    }

    private static byte[] Safetensors(string header, byte[] data) => SafetensorsRaw(Encoding.UTF8.GetBytes(header), data);

    private static byte[] SafetensorsRaw(byte[] header, byte[] data)
    {
        var b = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(b, (ulong)header.Length);
        header.CopyTo(b, 8);
        data.CopyTo(b, 8 + header.Length);
        return b;
    }

    // ------------------------------------------------------------------ builders

    private static class Pth
    {
        public sealed record Spec(string Key, string StorageType, string StorageKey, long StorageNumel, long Offset, long[] Size, long[] Stride, byte[] Data);

        public sealed record ZipEntry(string Name, byte[] Payload, long Declared, uint Crc, bool Deflate);

        /// <summary>float32 (4,3) [its own storage], int64 (5), float16 (2,2), and a float32 (2,3) view at offset 6 of storage 0.</summary>
        public static List<Spec> DefaultTensors()
        {
            var f = new byte[48]; for (int i = 0; i < 12; i++) BinaryPrimitives.WriteSingleLittleEndian(f.AsSpan(4 * i), i);
            var l = new byte[40]; for (int i = 0; i < 5; i++) BinaryPrimitives.WriteInt64LittleEndian(l.AsSpan(8 * i), i * 3);
            var h = new byte[8]; for (int i = 0; i < 4; i++) BinaryPrimitives.WriteHalfLittleEndian(h.AsSpan(2 * i), (Half)i);
            return
            [
                new("a.weight", "FloatStorage", "0", 12, 0, [4, 3], [3, 1], f),
                new("b.index", "LongStorage", "1", 5, 0, [5], [1], l),
                new("c.half", "HalfStorage", "2", 4, 0, [2, 2], [2, 1], h),
                new("a.tail", "FloatStorage", "0", 12, 6, [2, 3], [3, 1], f),
            ];
        }

        public static byte[] Pickle(IEnumerable<Spec> tensors, string? wrapper)
        {
            var p = new PickleBuilder().Proto();
            if (wrapper != null) p.EmptyDict().Str(wrapper);
            p.OrderedDict();
            foreach (var t in tensors)
            {
                p.Str(t.Key).Global("torch._utils", "_rebuild_tensor_v2").Mark();
                p.Mark().Str("storage").Global("torch", t.StorageType).Str(t.StorageKey).Str("cpu").Int(t.StorageNumel).Tuple().Raw((byte)'Q');
                p.Int(t.Offset).IntTuple(t.Size).IntTuple(t.Stride).Raw(0x89).OrderedDict().Tuple().Raw((byte)'R').Raw((byte)'s');
            }
            if (wrapper != null) p.Raw((byte)'s');
            return p.Stop().Bytes();
        }

        public static Dictionary<string, byte[]> Storages(IEnumerable<Spec> tensors)
        {
            var d = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            foreach (var t in tensors) d.TryAdd(t.StorageKey, t.Data);
            return d;
        }

        public static byte[] Build(List<Spec> tensors, string? wrapper) => Zip(Pickle(tensors, wrapper), Storages(tensors));

        public static byte[] Zip(byte[] pickle, Dictionary<string, byte[]> storages)
        {
            var entries = new List<ZipEntry> { new("archive/data.pkl", pickle, pickle.Length, System.IO.Hashing.Crc32.HashToUInt32(pickle), false) };
            foreach (var (k, v) in storages) entries.Add(new("archive/data/" + k, v, v.Length, System.IO.Hashing.Crc32.HashToUInt32(v), false));
            var version = "3\n"u8.ToArray();
            entries.Add(new("archive/version", version, version.Length, System.IO.Hashing.Crc32.HashToUInt32(version), false));
            return RawZip(entries);
        }

        /// <summary>A zip written field by field, so sizes and CRCs can lie (stored or raw-deflate payloads, no zip64).</summary>
        public static byte[] RawZip(List<ZipEntry> entries)
        {
            using var ms = new MemoryStream();
            using var w = new BinaryWriter(ms);
            var offsets = new List<long>();
            foreach (var e in entries)
            {
                offsets.Add(ms.Position);
                var name = Encoding.UTF8.GetBytes(e.Name);
                w.Write(0x04034b50u); w.Write((ushort)20); w.Write((ushort)0); w.Write((ushort)(e.Deflate ? 8 : 0));
                w.Write((ushort)0); w.Write((ushort)0x21); w.Write(e.Crc); w.Write((uint)e.Payload.Length); w.Write((uint)e.Declared);
                w.Write((ushort)name.Length); w.Write((ushort)0); w.Write(name); w.Write(e.Payload);
            }
            long cd = ms.Position;
            for (int i = 0; i < entries.Count; i++)
            {
                var e = entries[i];
                var name = Encoding.UTF8.GetBytes(e.Name);
                w.Write(0x02014b50u); w.Write((ushort)20); w.Write((ushort)20); w.Write((ushort)0); w.Write((ushort)(e.Deflate ? 8 : 0));
                w.Write((ushort)0); w.Write((ushort)0x21); w.Write(e.Crc); w.Write((uint)e.Payload.Length); w.Write((uint)e.Declared);
                w.Write((ushort)name.Length); w.Write((ushort)0); w.Write((ushort)0); w.Write((ushort)0); w.Write((ushort)0); w.Write(0u);
                w.Write((uint)offsets[i]); w.Write(name);
            }
            long cdSize = ms.Position - cd;
            w.Write(0x06054b50u); w.Write((ushort)0); w.Write((ushort)0); w.Write((ushort)entries.Count); w.Write((ushort)entries.Count);
            w.Write((uint)cdSize); w.Write((uint)cd); w.Write((ushort)0);
            w.Flush();
            return ms.ToArray();
        }
    }
}
