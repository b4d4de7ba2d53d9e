using System.Diagnostics;
using System.Text.Json;
using Cmtm.IO;
using Cmtm.IO.Checkpoints;
using Cmtm.Tests.Support;
using static TorchSharp.torch;

namespace Cmtm.Tests.IO.Checkpoints;

/// <summary>Reads the golden checkpoints written by the official Python code (torch 1.13 torch.save).</summary>
public class PthFixtureTests
{
    internal static List<(string Key, long[] Shape, string DType)> Manifest(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Shared.Fixture("manifests", name)));
        return doc.RootElement.EnumerateArray().Select(e => (
            e[0].GetString()!,
            e[1].EnumerateArray().Select(x => x.GetInt64()).ToArray(),
            e[2].GetString()!)).ToList();
    }

    private static readonly Lazy<StateDict> Cmtm = new(() => PthReader.Read(Shared.Fixture("model", "cmtm_b0_r128.pth")));

    [Fact]
    public void CmtmB0KeysShapesAndDtypesMatchManifest()
    {
        var sd = Cmtm.Value;
        Assert.Null(sd.Wrapper);
        Assert.Equal(506, sd.Count);
        Assert.All(sd.Keys, k => Assert.StartsWith("vos.", k));
        Assert.Equal("vos.app_encoder.mean", sd.Keys[0]);
        Assert.Equal("vos.app_encoder.std", sd.Keys[1]);
        var manifest = Manifest("cmtm_b0.json");
        Assert.Equal(manifest.Select(m => m.Key), sd.Keys);
        foreach (var (key, shape, dtype) in manifest)
        {
            var expected = key == "vos.modulator.pos_embed" ? new long[] { 1, 64, 160 } : shape; // fixture resolution 128
            Assert.True(expected.SequenceEqual(sd[key].shape), $"{key}: {DTypesShape(sd[key])} vs {string.Join(",", expected)}");
            Assert.Equal(dtype, DTypes.TorchName(sd[key].dtype));
        }
    }

    private static string DTypesShape(Tensor t) => string.Join(",", t.shape);

    [Fact]
    public void CmtmB0ParameterCountAndNormalisationBuffers()
    {
        var sd = Cmtm.Value;
        // README: 15119174 parameters = everything except the 4 normalisation buffers (3 values each).
        Assert.Equal(15119174, sd.ParameterCount(k => !k.EndsWith(".mean") && !k.EndsWith(".std")));
        using var mean = sd["vos.app_encoder.mean"].flatten();
        using var std = sd["vos.mo_encoder.std"].flatten();
        Assert.Equal(new[] { 0.485f, 0.456f, 0.406f }, mean.data<float>().ToArray());
        Assert.Equal(new[] { 0.229f, 0.224f, 0.225f }, std.data<float>().ToArray());
    }

    /// <summary>
    /// The fixture's one Adam step (lr 1e-5, first step: |delta| = lr * |g| / (|g| + eps) &lt;= 1e-5) moves every entry
    /// by at most 1e-5 from the checkpoint value; a wrongly decoded tensor (offset, dtype, order) would differ by O(0.1).
    /// Tolerance 1.2e-5 = lr plus float32 rounding of values up to ~1.
    /// </summary>
    [Fact]
    public void CmtmB0ValuesAgreeWithTrainStepFixture()
    {
        var sd = Cmtm.Value;
        var files = Directory.GetFiles(Shared.Fixture("model"), "train_step_after_adam__*.npy");
        Assert.Equal(11, files.Length);
        foreach (var f in files)
        {
            var key = Path.GetFileNameWithoutExtension(f)["train_step_after_adam__".Length..];
            using var after = Npy.Load(f);
            var before = sd[key];
            Assert.Equal(after.shape, before.shape);
            using var diff = (after - before).abs();
            double maxDiff = diff.max().item<float>();
            Assert.True(maxDiff <= 1.2e-5, $"{key}: max |after - checkpoint| = {maxDiff}");
            Assert.True(maxDiff >= 5e-6, $"{key}: the Adam step should be visible ({maxDiff})");
        }
    }

    [Fact]
    public void RaftLargeMatchesManifest()
    {
        using var sd = PthReader.Read(Shared.Fixture("flow", "raft_large_seed0.pth"));
        var manifest = Manifest("raft_large.json");
        Assert.Equal(179, sd.Count);
        Assert.Equal(manifest.Select(m => m.Key), sd.Keys);
        foreach (var (key, shape, dtype) in manifest)
        {
            Assert.Equal(shape, sd[key].shape);
            Assert.Equal(dtype, DTypes.TorchName(sd[key].dtype));
        }
        var nbt = sd.Keys.Where(k => k.EndsWith("num_batches_tracked")).ToList();
        Assert.Equal(17, nbt.Count);
        Assert.All(nbt, k => { Assert.Empty(sd[k].shape); Assert.Equal(ScalarType.Int64, sd[k].dtype); });
        // RAFT's ResidualBlock registers norm3 twice (as norm3 and downsample.1): torch.save stores one storage for
        // both names, and model.parameters() counts it once.
        var info = PthReader.Describe(Shared.Fixture("flow", "raft_large_seed0.pth"));
        var storageOf = info.Tensors.ToDictionary(t => t.Key, t => t.StorageKey);
        var aliases = sd.Keys.Where(k => k.Contains(".downsample.1.")).ToList();
        Assert.Equal(10, aliases.Count); // cnet layer2.0 / layer3.0: weight, bias, running stats, counter
        foreach (var a in aliases)
        {
            var original = a.Replace(".downsample.1.", ".norm3.");
            Assert.Equal(storageOf[original], storageOf[a]);
            Assert.True(sd[a].equal(sd[original]).all().item<bool>());
        }
        // README: 5257536 parameters = unique trainable tensors (BatchNorm running stats and counters are buffers).
        Assert.Equal(5257536, sd.ParameterCount(k => !k.EndsWith("num_batches_tracked") && !k.EndsWith("running_mean")
            && !k.EndsWith("running_var") && !k.Contains(".downsample.1.")));
    }

    [Fact]
    public void DescribeReportsWithoutLoading()
    {
        var info = CheckpointReader.Describe(Shared.Fixture("flow", "raft_large_seed0.pth"));
        Assert.Equal(CheckpointFormat.PyTorchZip, info.Format);
        Assert.Equal(179, info.KeyCount);
        Assert.Equal(17, info.DTypeSummary["int64"].Tensors);
        Assert.Contains("179 tensors", info.ToString());
    }

    [Fact]
    public void ReadsCmtmFixtureWithBulkCopies()
    {
        var path = Shared.Fixture("model", "cmtm_b0_r128.pth");
        using (PthReader.Read(path)) { } // warm up
        long before = GC.GetAllocatedBytesForCurrentThread();
        var sw = Stopwatch.StartNew();
        using var sd = PthReader.Read(path);
        sw.Stop();
        long managed = GC.GetAllocatedBytesForCurrentThread() - before;
        long fileBytes = new FileInfo(path).Length;
        Console.WriteLine($"read {path} ({fileBytes / 1e6:0.0} MB): {sw.Elapsed.TotalMilliseconds:F0} ms, {managed / 1e6:0.00} MB managed allocations");
        // Bulk copies, not per-element work: the tensor data goes straight to native memory, so the managed
        // allocations stay a small fraction of the file (a deterministic stand-in for the old wall-clock bound).
        Assert.True(managed < fileBytes / 4, $"reading allocated {managed / 1e6:0.0} MB managed for a {fileBytes / 1e6:0.0} MB file");
    }
}
