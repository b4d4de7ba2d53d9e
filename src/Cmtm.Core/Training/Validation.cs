using Cmtm.Data.Datasets;
using Cmtm.Evaluation;
using Cmtm.Inference;
using Cmtm.IO;
using Cmtm.Model;
using static TorchSharp.torch;

namespace Cmtm.Training;

/// <summary>A validation result: the DAVIS-2016-protocol report of <see cref="Evaluator"/> and its headline numbers.</summary>
public sealed record ValidationResult(EvaluationReport Report)
{
    /// <summary>J-Mean: the mean over sequences of each sequence's mean IoU (first and last frame excluded).</summary>
    public double J => Report.Overall["J-Mean"];
    /// <summary>F-Mean, likewise for the boundary F-measure.</summary>
    public double F => Report.Overall["F-Mean"];
    /// <summary>J&amp;F-Mean = (J + F) / 2.</summary>
    public double JF => Report.Overall["J&F-Mean"];
    /// <summary>How many sequences were scored.</summary>
    public int SequenceCount => Report.Sequences.Count;
}

/// <summary>
/// Validation as the official trainer, done by the evaluation library: the model in eval mode with batch 1 (no masking,
/// no DropPath) runs over a DAVIS-layout split exactly as <c>cmtm evaluate --weights</c> does
/// (<see cref="ModelEvaluation"/>: the same dataset reading, flows, masks at the annotation's size, results folder) and
/// <see cref="Evaluator"/> scores it with the DAVIS-2016 protocol (J and F per frame, first and last frame of each
/// sequence excluded, mean per sequence, mean over sequences, J&amp;F = (J + F) / 2).
/// </summary>
public static class Validation
{
    /// <summary>
    /// Opens a DAVIS-layout split (ImageSets/2016/{split}.txt) as <c>cmtm evaluate --weights</c> does
    /// (<see cref="ModelEvaluation.LoadDataset"/>): every frame must have its image, flow and annotation; listed sequences
    /// without frames on disk are left out (<see cref="DatasetRecord.SkippedSequences"/>). <paramref name="flows"/>: a
    /// folder holding the split's flow images in the dataset's layout (null = the dataset's own JPEGFlows);
    /// <paramref name="maxSequences"/> &gt; 0 keeps the first N sequences that have frames.
    /// </summary>
    public static DatasetRecord OpenDavis(string root, string split = "val", int maxSequences = 0, string? flows = null)
    {
        var ds = ModelEvaluation.LoadDataset(DatasetKind.Davis16, root, DatasetFlows.FromDataset(flows), split);
        return maxSequences > 0 && ds.Sequences.Count > maxSequences ? ds with { Sequences = ds.Sequences.Take(maxSequences).ToList() } : ds;
    }

    /// <summary>
    /// Scores a model on <paramref name="dataset"/> (whose frames carry their flow images) through
    /// <see cref="ModelEvaluation.Run"/>, writing the masks to <paramref name="resultsDir"/> (replaced; null = a temporary
    /// folder, deleted afterwards). The model is lent, not disposed; its training mode is restored afterwards.
    /// <paramref name="cancel"/> stops it between frames (<see cref="OperationCanceledException"/>).
    /// </summary>
    public static ValidationResult EvaluateModel(VosModel model, DatasetRecord dataset, Device? device = null, string? resultsDir = null,
        CancellationToken cancel = default)
    {
        bool onednn = Runtime.TorchRuntime.MkldnnEnabled;
        var dir = resultsDir ?? Path.Combine(Path.GetTempPath(), $"cmtm-val-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            Runtime.TorchRuntime.MkldnnEnabled = true; // inference is unaffected by the oneDNN backward fault
            using var predictor = new FramePredictor(model, device ?? CPU); // borrows it: its training mode comes back on disposal
            var report = ModelEvaluation.Run(dataset, predictor, DatasetFlows.FromDataset(dataset.Flows),
                new ModelEvaluationOptions { ResultsDir = dir, Overwrite = true, Cancellation = cancel });
            return new ValidationResult(report);
        }
        finally
        {
            Runtime.TorchRuntime.MkldnnEnabled = onednn;
            if (resultsDir == null) try { Directory.Delete(dir, recursive: true); } catch (DirectoryNotFoundException) { }
        }
    }

    /// <summary>
    /// 2016-protocol scores of any per-frame predictor by <see cref="Evaluator"/>: <paramref name="predict"/> gets a frame
    /// and its ground truth (for its size) and gives the frame's mask, which must have the ground truth's size (a
    /// <see cref="CmtmException"/> otherwise). It is called from several threads.
    /// </summary>
    public static ValidationResult Evaluate(DatasetRecord dataset, Func<FrameRecord, BinaryMask, BinaryMask> predict, string description = "predictor") =>
        new(Evaluator.Evaluate(dataset, new DelegateResultsProvider(description, (_, frame, gt) => predict(frame, gt)), EvaluationProtocol.Davis2016));

    /// <summary>
    /// The motion-magnitude baseline (<see cref="MotionThreshold"/> of each frame's flow image) scored by
    /// <see cref="Evaluate"/>; a mask smaller than its annotation (half-size frames) is enlarged by nearest neighbour.
    /// </summary>
    public static ValidationResult EvaluateMotionThreshold(DatasetRecord dataset) =>
        Evaluate(dataset, (f, gt) =>
        {
            var flow = RgbImage.Load(f.Flow ?? throw new CmtmException(f.Name, "frame has no flow image"));
            return ResizeNearest(new BinaryMask(flow.Width, flow.Height, MotionThreshold(flow)), gt.Width, gt.Height);
        }, "motion-magnitude threshold");

    /// <summary>Nearest-neighbour resize (source pixel floor(x * w / W), as OpenCV's INTER_NEAREST); the mask itself when the size matches.</summary>
    public static BinaryMask ResizeNearest(BinaryMask m, int width, int height)
    {
        if (m.Width == width && m.Height == height) return m;
        var data = new byte[(long)width * height];
        for (int y = 0; y < height; y++)
        {
            int sy = (int)((long)y * m.Height / height);
            for (int x = 0; x < width; x++) data[(long)y * width + x] = m.Data[(long)sy * m.Width + (int)((long)x * m.Width / width)];
        }
        return new BinaryMask(width, height, data);
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
