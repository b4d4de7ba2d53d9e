using System.Diagnostics;
using System.Text;
using Cmtm.Flow;
using Cmtm.Inference;
using Cmtm.IO;
using Cmtm.Model;
using Cmtm.Runtime;
using Cmtm.Tests.Support;
using OpenCvSharp;
using Xunit.Abstractions;

namespace Cmtm.Tests.Inference;

/// <summary>Runs alone (process-wide memory is measured), after the parallel tests.</summary>
[CollectionDefinition("Memory", DisableParallelization = true)]
public class MemoryCollection { }

/// <summary>
/// Bounded memory of `segment`: over a synthetic 200-frame video the full pipeline (decode, Farneback flow,
/// model, mask PNG, overlay JPEG + overlay.mp4) keeps no per-frame state. Memory is sampled from the segmenter's own
/// progress callback after a full GC at frames 50, 125 and 200: if frames (or their flows / masks / tensors) were kept,
/// the 150 frames between the first and last sample would add ~150 x 2 x 230 KB = 69 MB (RGB frame + flow image at
/// 320x240, before masks, overlays and tensors). Bounds, all independent of the machine: managed heap +4 MB (a 17th of
/// that) and no more live libtorch tensors at the last sample than at the first (the working set is only printed: it
/// depends on the allocator, which keeps freed arenas).
/// </summary>
[Collection("Memory")]
[Trait("Category", "Slow")] // over ~3 s: left out of ./test --fast
public class SegmenterMemoryTests(ITestOutputHelper output)
{
    private const int Frames = 200, W = 320, H = 240;

    /// <summary>A progress writer that samples memory at given progress lines (one line per frame with Interval 0).</summary>
    private sealed class Sampler(int[] at) : TextWriter
    {
        private int lines;
        public readonly List<(int Frame, long Managed, long WorkingSet, long Tensors)> Samples = [];
        public override Encoding Encoding => Encoding.UTF8;
        public override void WriteLine(string? value)
        {
            lines++;
            if (!at.Contains(lines)) return;
            GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect();
            using var p = Process.GetCurrentProcess();
            Samples.Add((lines, GC.GetTotalMemory(true), p.WorkingSet64, TorchSharp.torch.Tensor.TotalCount));
        }
    }

    private static void WriteSyntheticVideo(string path)
    {
        using var writer = new VideoWriter(path, FourCC.MP4V, 25, new Size(W, H));
        Assert.True(writer.IsOpened());
        using var background = new Mat(H, W, MatType.CV_8UC3);
        Cv2.Randu(background, new Scalar(0, 0, 0), new Scalar(255, 255, 255));
        Cv2.GaussianBlur(background, background, new Size(0, 0), 3); // texture Farneback can track
        for (var i = 0; i < Frames; i++)
        {
            using var frame = background.Clone();
            var x = 20 + (i * 3) % (W - 100);
            Cv2.Rectangle(frame, new Rect(x, 60, 80, 100), new Scalar(30, 200, 240), -1);
            writer.Write(frame);
        }
        writer.Release();
    }

    [Fact]
    public void MemoryDoesNotGrowWithFrameCount()
    {
        using var d = new Shared.TempDir();
        var video = d.File("synthetic.mp4");
        WriteSyntheticVideo(video);
        var source = FrameSources.Open(video);
        // A random-weight CMTM-b0 at the smallest resolution: the test is about the pipeline, not the weights.
        using var predictor = new FramePredictor(new VosModel(ModelConfig.Parse("cmtm-b0", 32)), ownsModel: true);
        using var flow = new FarnebackFlow();
        var sampler = new Sampler([50, 125, 200]);
        var sw = Stopwatch.StartNew();
        // One intra-op thread: the model is tiny, and on a busy 2-core runner OpenMP threads spin against other
        // processes (seen: 1 s per frame instead of 0.05 s). This collection runs alone, so the global setting is safe.
        var threads = TorchSharp.torch.get_num_threads();
        TorchSharp.torch.set_num_threads(1);
        SegmentSummary summary;
        try
        {
            summary = new Segmenter(predictor, flow).Run(source, new SegmentOptions { OutputDir = d.File("out"), Overlay = true },
                new ProgressLine("memory", sampler) { Interval = TimeSpan.Zero });
        }
        finally { TorchSharp.torch.set_num_threads(threads); }
        output.WriteLine($"{summary.Frames} frames in {sw.Elapsed.TotalSeconds:0.0} s (model {summary.ModelSeconds:0.0} s, {summary.EndToEndFps:0.0} fps end-to-end)");
        foreach (var s in sampler.Samples) output.WriteLine($"frame {s.Frame}: managed {s.Managed / 1e6:0.0} MB, working set {s.WorkingSet / 1e6:0.0} MB, live tensors {s.Tensors}");

        Assert.Equal(Frames, summary.Frames);
        Assert.Equal(Frames, Directory.GetFiles(d.File("out"), "*.png").Length);
        Assert.Equal((Frames, W, H), BlackswanClip.PlayBack(d.File("out/overlay.mp4")));
        Assert.Equal(3, sampler.Samples.Count);
        var (first, last) = (sampler.Samples[0], sampler.Samples[2]);
        Assert.True(last.Managed - first.Managed < 4_000_000, $"managed heap grew {(last.Managed - first.Managed) / 1e6:0.0} MB over {last.Frame - first.Frame} frames");
        // native memory, deterministically: no tensor outlives its frame (a kept frame would leave at least one live
        // tensor per frame, 150 here). The working set is printed, not asserted: it depends on the allocator and the machine.
        Assert.True(last.Tensors - first.Tensors <= 0, $"{last.Tensors - first.Tensors} more live tensors after {last.Frame - first.Frame} more frames");
    }
}
