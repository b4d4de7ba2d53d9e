using Cmtm.Data.Datasets;
using Cmtm.Evaluation;
using Cmtm.Inference;
using Cmtm.IO;
using Cmtm.Model;
using Cmtm.Tests.Support;
using Cmtm.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Cmtm.Tests.Evaluation;

/// <summary>
/// Issue 12 item 3: frames smaller than their annotations (the half-size DAVIS val copies) are scored at the annotation's
/// size: the logits are resized from the model resolution to the annotation's size and then argmaxed, in model-driven
/// evaluation and in the validation inside `train` alike (one implementation, the same numbers).
/// </summary>
[Collection("torch-global-state")]
public class AnnotationSizeTests
{
    [Fact]
    public void ForwardResizesTheLogitsOnceFromTheModelResolutionToTheRequestedSize()
    {
        torch.random.manual_seed(2);
        using var model = new VosModel(ModelConfig.Parse("cmtm-b0", 32));
        model.eval();
        using var mode = inference_mode();
        using var img = rand(1, 3, 40, 56);
        using var flo = rand(1, 3, 40, 56);
        using var atModel = model.Forward(img, flo, null, (32, 32)); // no resize back: the decoder's logits
        using var atFrame = model.forward(img, flo);
        using var atAnnotation = model.Forward(img, flo, null, (80, 112));
        Assert.Equal(new long[] { 1, 2, 40, 56 }, atFrame.shape);
        Assert.Equal(new long[] { 1, 2, 80, 112 }, atAnnotation.shape);
        using var once = VosModel.ResizeTo(atModel, 80, 112);
        Assert.True(Reliability.Checkpoints.Same(once, atAnnotation), "logits at the requested size are not one bicubic resize of the model-resolution logits");
        using var frameSized = VosModel.ResizeTo(atModel, 40, 56);
        Assert.True(Reliability.Checkpoints.Same(frameSized, atFrame));
        Assert.Throws<ArgumentException>(() => model.Forward(img, flo, null, (0, 10)));
    }

    [Fact]
    public void PredictorDisposesOnlyAModelItOwnsAndLeavesABorrowedOneAsLent()
    {
        var lent = new VosModel(ModelConfig.Parse("fakeflow-b0", 32));
        var weight = lent.parameters().First();
        lent.train();
        using (var predictor = new FramePredictor(lent)) Assert.False(lent.training); // eval while predicting
        Assert.False(weight.IsInvalid);
        Assert.True(lent.training); // the lender's mode is back
        // a borrowed model is never converted in place
        Assert.Throws<ArgumentException>(() => new FramePredictor(lent, precision: Precision.Bf16));
        Assert.Equal(Precision.Fp32, lent.Precision);
        Assert.Equal(ScalarType.Float32, weight.dtype);
        using (var again = new FramePredictor(lent))
        using (var p = again.Predict(new RgbImage(8, 6, new byte[8 * 6 * 3]), new RgbImage(8, 6, new byte[8 * 6 * 3])))
            Assert.Equal(48, p.Mask.Length); // the lent model still runs after the first predictor was disposed
        using (new FramePredictor(lent, ownsModel: true)) { }
        Assert.True(weight.IsInvalid);
    }

    [Fact]
    public void HalfSizeFramesAreScoredAtTheAnnotationSizeAndValidationEqualsEvaluation()
    {
        using var ds = new TinyDavis(halfSizeFrames: true);
        ds.AddFlows();
        using var d = new Shared.TempDir();
        using var predictor = TinyDavis.FixturePredictor();
        var results = d.File("res");
        var report = ds.EvaluateWithDatasetFlows(predictor, results);

        // every result has the annotation's size, twice the frame's
        Assert.Equal((TinyDavis.Width, TinyDavis.Height), (2 * ds.FrameWidth, 2 * ds.FrameHeight));
        foreach (var seq in TinyDavis.Sequences)
            foreach (var f in Directory.GetFiles(Path.Combine(results, seq)))
                Assert.Equal((TinyDavis.Width, TinyDavis.Height), PngCodec.ReadSize(f));
        // a written mask is the predictor's mask at the annotation size (logits resized to it, then argmax)
        var image = FolderFrameSource.Read(Path.Combine(ds.Root, "JPEGImages", "480p", "dog", "00001.jpg"));
        var flow = FolderFrameSource.Read(Path.Combine(ds.Root, "JPEGFlows", "480p", "dog", "00001.jpg"));
        Assert.Equal((ds.FrameWidth, ds.FrameHeight), (image.Width, image.Height));
        using var pred = predictor.Predict(image, flow, (TinyDavis.Width, TinyDavis.Height));
        Assert.Equal(new long[] { 2, TinyDavis.Height, TinyDavis.Width }, pred.Logits.shape);
        Assert.Equal(pred.Mask, PngMask.Read(Path.Combine(results, "dog", "00001.png")).Data);
        Assert.InRange(report.Overall["J&F-Mean"], 0, 1);

        // the validation inside `train` is the same computation: identical numbers, and the model is still usable
        var val = Validation.OpenDavis(ds.Root);
        var v = Validation.EvaluateModel(predictor.Model, val);
        foreach (var c in Evaluator.DavisColumns)
            Assert.Equal(report.Overall[c], v.Report.Overall[c]);
        Assert.Equal(report.Overall["J&F-Mean"], v.JF);
        Assert.Equal(2, v.SequenceCount);
        using var again = predictor.Predict(image, flow, (TinyDavis.Width, TinyDavis.Height));
        Assert.Equal(pred.Mask, again.Mask);

        // the motion baseline's masks (at the flow's size) are enlarged to the annotation's size to be scored
        var motion = Validation.EvaluateMotionThreshold(val);
        Assert.InRange(motion.JF, 0, 1);
    }

    [Fact]
    public void NearestResizeRepeatsPixels()
    {
        var m = new BinaryMask(2, 2, [1, 0, 0, 1]);
        var big = Validation.ResizeNearest(m, 4, 4);
        Assert.Equal(new byte[] { 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1 }, big.Data);
        Assert.Same(m, Validation.ResizeNearest(m, 2, 2));
    }
}
