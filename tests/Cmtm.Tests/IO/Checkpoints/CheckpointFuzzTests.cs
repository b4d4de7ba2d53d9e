using System.Buffers.Binary;
using System.Text;
using Cmtm.IO.Checkpoints;
using Cmtm.Tests.Support;
using Xunit.Abstractions;

namespace Cmtm.Tests.IO.Checkpoints;

/// <summary>
/// Fuzzing the checkpoint readers: mutated .pth / .safetensors files must load or fail with a named <see cref="CmtmException"/>, within
/// a time bound and without allocating beyond what the file holds. The CI run is 300 fixed-seed cases (a few seconds);
/// the Benchmark-trait campaign runs CMTM_FUZZ_CASES (default 10,000) cases of CMTM_FUZZ_SEED:
/// <c>./test --filter "FullyQualifiedName~CheckpointFuzzTests.LongCampaign"</c>. Plus one regression test per reader bug the fuzzer found.
/// </summary>
[Collection("Console")]
public class CheckpointFuzzTests(ITestOutputHelper output)
{
    private const int Cases = 300, Seed = 20240607;

    [Fact]
    public void ThreeHundredFixedSeedCasesAllLoadOrFailWithANamedError()
    {
        using var dir = new Shared.TempDir();
        var fuzzer = new CheckpointFuzzer(Seed, dir.Path) { CaseTimeout = TimeSpan.FromSeconds(10) };
        var summary = fuzzer.Run(Cases);
        output.WriteLine($"{summary.Cases.Count} cases in {summary.Seconds:0.0} s: " + string.Join(", ", summary.ByOutcome.Select(kv => $"{kv.Key} {kv.Value}")));
        foreach (var (m, l, r, f) in summary.ByMutation) output.WriteLine($"  {m}: loaded {l}, rejected {r}, failed {f}");
        foreach (var c in summary.Failures) output.WriteLine("FAIL " + c);

        Assert.Equal(Cases, summary.Cases.Count);
        Assert.Empty(summary.Failures);
        // every mutation kind was exercised, and most cases are (correctly) refused
        var kinds = summary.Cases.Select(c => c.Format + "/" + c.Mutation).ToHashSet();
        foreach (var m in CheckpointFuzzer.PthMutations) Assert.Contains("pth/" + m, kinds);
        foreach (var m in CheckpointFuzzer.SafetensorsMutations) Assert.Contains("safetensors/" + m, kinds);
        Assert.True(summary.ByOutcome[FuzzOutcome.Rejected] > Cases / 2);
        // refusals name the file (the fuzzer replaces its path by <file>) and a problem
        Assert.All(summary.Cases.Where(c => c.Outcome == FuzzOutcome.Rejected), c => Assert.StartsWith("<file>: ", c.Detail));
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void CasesAreDeterministic()
    {
        using var d1 = new Shared.TempDir();
        using var d2 = new Shared.TempDir();
        var a = new CheckpointFuzzer(7, d1.Path);
        var b = new CheckpointFuzzer(7, d2.Path);
        foreach (var i in new[] { 0, 1, 2, 17, 41, 99 })
        {
            var (x, y) = (a.RunCase(i), b.RunCase(i));
            Assert.Equal((x.Mutation, x.Outcome, x.FileBytes, x.Detail), (y.Mutation, y.Outcome, y.FileBytes, y.Detail));
        }
    }

    [Fact, Trait("Category", "Benchmark")]
    public void LongCampaign()
    {
        int cases = int.TryParse(Environment.GetEnvironmentVariable("CMTM_FUZZ_CASES"), out var n) && n > 0 ? n : 10_000;
        int seed = int.TryParse(Environment.GetEnvironmentVariable("CMTM_FUZZ_SEED"), out var s) ? s : 1;
        using var dir = new Shared.TempDir();
        var summary = new CheckpointFuzzer(seed, dir.Path).Run(cases, c => { if (!c.Ok) output.WriteLine("FAIL " + c); });
        output.WriteLine($"{summary.Cases.Count} cases (seed {seed}) in {summary.Seconds:0.0} s: " + string.Join(", ", summary.ByOutcome.Select(kv => $"{kv.Key} {kv.Value}")));
        foreach (var (m, l, r, f) in summary.ByMutation) output.WriteLine($"  {m,-34} loaded {l,6} rejected {r,6} failed {f,6}");
        Assert.Equal(cases, summary.Cases.Count);
        Assert.Empty(summary.Failures);
    }

    // ---------------------------------------------------------------- regressions found by the fuzzer

    /// <summary>A 1-element storage viewed with stride 0 as a 2^20 x 2^20 tensor: the view fits the storage, but
    /// materialising it used to ask libtorch for 4 TB (ExternalException) or, for smaller sizes, hang copying gigabytes.</summary>
    [Fact]
    public void Stride0ViewExpandingTheFileIsRefusedBeforeAllocation()
    {
        using var dir = new Shared.TempDir();
        var path = dir.File("expand.pth");
        var data = new byte[4];
        PthBuilder.WriteZip(path, PthBuilder.StateDictPickle([new TensorSpec("w", "FloatStorage", "0", 1, 0, [1L << 20, 1L << 20], [0, 0])]),
            new Dictionary<string, byte[]> { ["0"] = data });
        var e = Assert.Throws<CheckpointFormatException>(() => { using var _ = CheckpointReader.Load(path); });
        Assert.Contains("tensor 'w'", e.Message);
        Assert.Contains("stride-0 or overlapping views", e.Message);

        // tied weights (two views of one storage) stay fine
        var tied = dir.File("tied.pth");
        PthBuilder.WriteZip(tied, PthBuilder.StateDictPickle([
            new TensorSpec("a", "FloatStorage", "0", 6, 0, [2, 3], [3, 1]), new TensorSpec("b", "FloatStorage", "0", 6, 0, [2, 3], [3, 1])]),
            new Dictionary<string, byte[]> { ["0"] = new byte[24] });
        using var sd = CheckpointReader.Load(tied);
        Assert.Equal(2, sd.Count);
    }

    /// <summary>A zip whose end record counts more entries than its central directory holds: ZipArchive throws
    /// InvalidDataException lazily (on Entries), which used to escape unwrapped.</summary>
    [Fact]
    public void ZipWithAWrongEntryCountIsANamedError()
    {
        using var dir = new Shared.TempDir();
        var path = dir.File("count.pth");
        PthBuilder.WriteZip(path, PthBuilder.StateDictPickle([new TensorSpec("w", "FloatStorage", "0", 1, 0, [1], [1])]),
            new Dictionary<string, byte[]> { ["0"] = new byte[4] });
        var b = File.ReadAllBytes(path);
        int eocd = b.AsSpan().LastIndexOf("PK\u0005\u0006"u8);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(eocd + 10), 9); // total entries
        File.WriteAllBytes(path, b);
        var e = Assert.Throws<CheckpointFormatException>(() => { using var _ = CheckpointReader.Load(path); });
        Assert.Contains("corrupt or truncated zip archive", e.Message);
    }

    private static string Safetensors(Shared.TempDir dir, string header, int dataBytes)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var b = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(b, (ulong)h.Length);
        h.CopyTo(b, 8);
        var path = dir.File(Guid.NewGuid().ToString("N") + ".safetensors");
        File.WriteAllBytes(path, b);
        return path;
    }

    /// <summary>Non-numeric data_offsets made JsonElement.TryGetInt64 throw InvalidOperationException.</summary>
    [Theory]
    [InlineData("[\"0\",16]")]
    [InlineData("[{},16]")]
    [InlineData("[0,null]")]
    public void SafetensorsNonNumericOffsetsAreANamedError(string offsets)
    {
        using var dir = new Shared.TempDir();
        var path = Safetensors(dir, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":" + offsets + "}}", 16);
        var e = Assert.Throws<CheckpointFormatException>(() => { using var _ = CheckpointReader.Load(path); });
        Assert.Contains("tensor 'w': invalid data_offsets", e.Message);
    }

    /// <summary>Invalid UTF-8 inside a JSON string passed JsonDocument.Parse and threw InvalidOperationException when read.</summary>
    [Fact]
    public void SafetensorsHeaderWithInvalidUtf8IsANamedError()
    {
        using var dir = new Shared.TempDir();
        var path = Safetensors(dir, "{\"w\xff\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16);
        var raw = File.ReadAllBytes(path);
        int i = raw.AsSpan().IndexOf(new byte[] { (byte)'w', 0xC3, 0xBF }); // U+00FF as UTF-8 (written by the helper) -> a lone 0xFF byte
        Assert.True(i > 8);
        raw[i + 1] = 0xFF; raw[i + 2] = (byte)' ';
        File.WriteAllBytes(path, raw);
        var e = Assert.Throws<CheckpointFormatException>(() => { using var _ = CheckpointReader.Load(path); });
        Assert.Contains("not valid UTF-8", e.Message);
    }
}
