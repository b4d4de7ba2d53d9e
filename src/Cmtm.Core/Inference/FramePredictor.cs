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
/// Runs a loaded model on one (frame, flow image) pair in inference mode (no masking, no DropPath, no grad). It puts the
/// model in eval mode (and converts it to the requested precision), and disposes it only when told it owns it
/// (<c>ownsModel</c>): a model lent by its owner (the trainer's during validation, the demo's) stays usable afterwards.
/// </summary>
public sealed class FramePredictor : IDisposable
{
    private readonly bool ownsModel;

    public VosModel Model { get; }
    public Device Device { get; }

    /// <param name="precision">converts the model's weights (see <see cref="Precision"/>); logits stay float32.</param>
    /// <param name="ownsModel">dispose <paramref name="model"/> with this predictor (true when the caller hands it over, e.g. a model just loaded for it).</param>
    public FramePredictor(VosModel model, Device? device = null, Precision precision = Precision.Fp32, bool ownsModel = false)
    {
        Model = model;
        Device = device ?? CPU;
        this.ownsModel = ownsModel;
        Model.eval();
        Model.UsePrecision(precision);
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

    /// <summary>Disposes the model if this predictor owns it (see the constructor); otherwise nothing.</summary>
    public void Dispose()
    {
        if (ownsModel) Model.Dispose();
    }
}
