using Cmtm.IO;
using Cmtm.Model;
using Cmtm.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Cmtm.Inference;

/// <summary>One frame's prediction at the requested size (the frame's own unless asked otherwise).</summary>
public sealed class FramePrediction : IDisposable
{
    /// <summary>(2,H,W) float32 logits on the CPU (background, foreground).</summary>
    public required Tensor Logits { get; init; }
    /// <summary>H*W bytes, 1 = foreground (argmax of the logits).</summary>
    public required byte[] Mask { get; init; }
    public int Width { get; init; }
    public int Height { get; init; }
    public void Dispose() => Logits.Dispose();
}

/// <summary>
/// Runs a loaded model on one (frame, flow image) pair in inference mode (no masking, no DropPath, no grad). A predictor
/// either owns its model (<c>ownsModel</c>: handed over, e.g. just loaded for it; converted to the requested precision
/// and disposed with the predictor) or borrows it (the trainer's during validation, the demo's): a borrowed model is
/// never converted (asking for another precision is an error) and gets its training mode back when the predictor is
/// disposed, so its owner finds it as it lent it.
/// </summary>
public sealed class FramePredictor : IDisposable
{
    private readonly bool ownsModel, borrowedWasTraining;

    public VosModel Model { get; }
    public Device Device { get; }

    /// <param name="precision">the weights' precision (see <see cref="Precision"/>); logits stay float32. An owned model is
    /// converted to it (default fp32); a borrowed one must already be in it (default: as it is).</param>
    /// <param name="ownsModel">the predictor owns <paramref name="model"/> and disposes it (true when the caller hands it
    /// over, e.g. a model just loaded for it); false: it borrows it.</param>
    public FramePredictor(VosModel model, Device? device = null, Precision? precision = null, bool ownsModel = false)
    {
        if (!ownsModel && precision is Precision p && p != model.Precision)
            throw new ArgumentException($"a borrowed model is not converted: it is {model.Precision}, {p} was asked for (convert it first, or hand it over with ownsModel)", nameof(precision));
        Model = model;
        Device = device ?? CPU;
        this.ownsModel = ownsModel;
        borrowedWasTraining = !ownsModel && model.training;
        Model.eval();
        if (ownsModel) Model.UsePrecision(precision ?? Precision.Fp32);
    }

    public Precision Precision => Model.Precision;

    public FramePrediction Predict(RgbImage image, RgbImage flow) =>
        Predict(new RgbFrame(0, "image", image.Width, image.Height, image.Pixels, "image"),
                new RgbFrame(0, "flow", flow.Width, flow.Height, flow.Pixels, "flow"));

    /// <summary>The prediction for <paramref name="image"/>; <paramref name="size"/> (width, height) is the size of the
    /// logits and mask (default: the frame's), e.g. that of an annotation larger than its frame.</summary>
    public FramePrediction Predict(RgbFrame image, RgbFrame flow, (int Width, int Height)? size = null)
    {
        using var img = ToUnit(image);
        using var flo = ToUnit(flow);
        var (width, height) = size ?? (image.Width, image.Height);
        return Predict(img, flo, width, height);
    }

    /// <summary>(1,3,H,W) float32 in [0,1] on the device: byte / 255f, as the official ToTensor.</summary>
    private Tensor ToUnit(RgbFrame f)
    {
        using var t255 = f.ToTensor255();
        var unit = t255.div(Scalars.Float255);
        if (Device.type == DeviceType.CPU) return unit;
        using (unit) return unit.to(Device);
    }

    /// <summary>image, flow: (1,3,H,W) float in [0,1] on the predictor's device; the logits (and mask) are resized
    /// to <paramref name="width"/> x <paramref name="height"/> (the frame's size, or an annotation's).</summary>
    public FramePrediction Predict(Tensor img, Tensor flo, int width, int height)
    {
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        var logits = Model.Forward(img, flo, null, (height, width))[0].cpu();
        var mask = VosModel.ToMask(logits.unsqueeze(0))[0].to_type(ScalarType.Byte).contiguous();
        var bytes = mask.data<byte>().ToArray();
        return new FramePrediction { Logits = logits.MoveToOuterDisposeScope(), Mask = bytes, Width = width, Height = height };
    }

    /// <summary>Disposes an owned model; a borrowed one gets its training mode back.</summary>
    public void Dispose()
    {
        if (ownsModel) Model.Dispose();
        else if (borrowedWasTraining) Model.train();
    }
}
