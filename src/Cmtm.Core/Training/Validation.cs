using Cmtm.Data.Sampling;
using Cmtm.Evaluation;
using Cmtm.Inference;
using Cmtm.IO;
using Cmtm.Model;
using static TorchSharp.torch;

namespace Cmtm.Training;

/// <summary>Per-sequence scores (means over the evaluated frames).</summary>
public sealed record SequenceScore(string Name, int Frames, double J, double F);

/// <summary>A DAVIS-2016-protocol result: J and F per sequence and their means; JF = (J + F) / 2.</summary>
public sealed record ValidationResult(IReadOnlyList<SequenceScore> Sequences)
{
    public double J => Sequences.Count == 0 ? double.NaN : Sequences.Average(s => s.J);
    public double F => Sequences.Count == 0 ? double.NaN : Sequences.Average(s => s.F);
    public double JF => (J + F) / 2;
}

/// <summary>One validation sequence on disk: frames, flow images, annotations (paired by file stem).</summary>
public sealed record ValSequence(string Name, IReadOnlyList<FrameFiles> Frames);

/// <summary>
/// Validation as the official trainer: the model in eval mode with batch 1 (no masking, no DropPath), every frame
/// predicted at its own size (the model resizes to its resolution and back), J and F per frame with the first and
/// last frames excluded, mean per sequence, mean over sequences, J&amp;F = (J + F) / 2.
/// </summary>
public static class Validation
{
    /// <summary>Reads a DAVIS-layout split (ImageSets/2016/{split}.txt); flows from <paramref name="flows"/> in the dataset's layout (null = the dataset's own).</summary>
    public static List<ValSequence> OpenDavis(string root, string split = "val", int maxSequences = 0, string? flows = null)
    {
        var list = TrainingSource.Open(SourceKind.Davis, root, split: split, flows: flows).Videos;
        var names = File.ReadAllLines(Path.Combine(root, "ImageSets", "2016", split + ".txt")).Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        var seqs = list.Select((v, i) => new ValSequence(names[i], v)).ToList();
        return maxSequences > 0 ? seqs.Take(maxSequences).ToList() : seqs;
    }

    /// <summary>Binary ground truth of an annotation (palette ids: nonzero and not 255 -&gt; 1).</summary>
    public static BinaryMask ReadGroundTruth(string path) => PngMask.Read(path, MaskRule.ObjectIds);

    /// <summary>2016 protocol scores of any per-frame predictor (frame files -&gt; binary mask at the frame size).</summary>
    public static ValidationResult Evaluate(IReadOnlyList<ValSequence> sequences, Func<FrameFiles, byte[]> predict, Action<int, int>? progress = null)
    {
        var scores = new List<SequenceScore>();
        int done = 0, total = sequences.Sum(s => Math.Max(0, s.Frames.Count - 2));
        foreach (var seq in sequences)
        {
            var js = new List<double>(); var fs = new List<double>();
            for (int i = 1; i < seq.Frames.Count - 1; i++) // first and last frame excluded
            {
                var gt = ReadGroundTruth(seq.Frames[i].Mask);
                var pred = predict(seq.Frames[i]);
                if (pred.Length != gt.Data.Length) throw new CmtmException(seq.Frames[i].Mask, "prediction size differs from the annotation size");
                var pm = new BinaryMask(gt.Width, gt.Height, pred);
                js.Add(DavisMetrics.Iou(gt, pm)); fs.Add(DavisMetrics.Boundary(gt, pm).F);
                progress?.Invoke(++done, total);
            }
            if (js.Count > 0) scores.Add(new SequenceScore(seq.Name, js.Count, js.Average(), fs.Average()));
        }
        return new ValidationResult(scores);
    }

    /// <summary>Scores a model (eval mode, batch 1, no grad); restores the previous training mode afterwards.</summary>
    public static ValidationResult EvaluateModel(VosModel model, IReadOnlyList<ValSequence> sequences, Device? device = null, Action<int, int>? progress = null)
    {
        bool wasTraining = model.training, onednn = Runtime.TorchRuntime.MkldnnEnabled;
        try
        {
            Runtime.TorchRuntime.MkldnnEnabled = true; // inference is unaffected by the oneDNN backward fault
            model.eval();
            var predictor = new FramePredictorNoDispose(model, device ?? CPU);
            return Evaluate(sequences, f =>
            {
                using var p = predictor.Predict(RgbImage.Load(f.Image), RgbImage.Load(f.Flow));
                return p.Mask;
            }, progress);
        }
        finally { model.train(wasTraining); Runtime.TorchRuntime.MkldnnEnabled = onednn; }
    }

    /// <summary>FramePredictor owns (disposes) its model; validation must not.</summary>
    private sealed class FramePredictorNoDispose
    {
        private readonly VosModel model; private readonly Device device;
        public FramePredictorNoDispose(VosModel model, Device device) { this.model = model; this.device = device; }
        public FramePrediction Predict(RgbImage image, RgbImage flow)
        {
            var fp = new FramePredictor(model, device); // does not dispose unless Dispose() is called
            return fp.Predict(image, flow);
        }
    }

    /// <summary>
    /// The motion-magnitude baseline: foreground where the flow differs strongly from the dominant (camera) motion,
    /// measured on the flow colour image as the RGB distance of each pixel from the frame's per-channel median colour,
    /// thresholded at mean + 1 std of that distance (or a given threshold).
    /// </summary>
    public static byte[] MotionThreshold(RgbImage flow, double? threshold = null)
    {
        int n = flow.Width * flow.Height;
        var med = new double[3];
        for (int c = 0; c < 3; c++)
        {
            var ch = new byte[n];
            for (int i = 0; i < n; i++) ch[i] = flow.Pixels[3 * i + c];
            Array.Sort(ch);
            med[c] = ch[n / 2];
        }
        var mag = new double[n];
        for (int i = 0; i < n; i++)
        {
            double r = flow.Pixels[3 * i] - med[0], g = flow.Pixels[3 * i + 1] - med[1], b = flow.Pixels[3 * i + 2] - med[2];
            mag[i] = Math.Sqrt(r * r + g * g + b * b);
        }
        double th = threshold ?? mag.Average() + Std(mag);
        return mag.Select(m => m > th ? (byte)1 : (byte)0).ToArray();
    }

    private static double Std(double[] v) { double m = v.Average(); return Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / v.Length); }
}
