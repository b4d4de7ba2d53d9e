using Cmtm.IO;
using Cmtm.Model;
using Cmtm.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Cmtm.Inference;

/// <summary>One frame's prediction at the frame's own size.</summary>
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

/// <summary>Runs a loaded model on one (frame, flow image) pair in inference mode (no masking, no DropPath, no grad).</summary>
public sealed class FramePredictor : IDisposable
{
    public VosModel Model { get; }
    public Device Device { get; }

    /// <param name="precision">converts the model's weights (see <see cref="Precision"/>); logits stay float32.</param>
    public FramePredictor(VosModel model, Device? device = null, Precision precision = Precision.Fp32)
    {
        Model = model;
        Device = device ?? CPU;
        Model.eval();
        Model.UsePrecision(precision);
    }

    public Precision Precision => Model.Precision;

    public FramePrediction Predict(RgbImage image, RgbImage flow) =>
        Predict(new RgbFrame(0, "image", image.Width, image.Height, image.Pixels, "image"),
                new RgbFrame(0, "flow", flow.Width, flow.Height, flow.Pixels, "flow"));

    public FramePrediction Predict(RgbFrame image, RgbFrame flow)
    {
        using var img = ToUnit(image);
        using var flo = ToUnit(flow);
        return Predict(img, flo, image.Width, image.Height);
    }

    /// <summary>(1,3,H,W) float32 in [0,1] on the device: byte / 255f, as the official ToTensor.</summary>
    private Tensor ToUnit(RgbFrame f)
    {
        using var t255 = f.ToTensor255();
        var unit = t255.div(Scalars.Float255);
        if (Device.type == DeviceType.CPU) return unit;
        using (unit) return unit.to(Device);
    }

    /// <summary>image, flow: (1,3,H,W) float in [0,1] on the predictor's device.</summary>
    public FramePrediction Predict(Tensor img, Tensor flo, int width, int height)
    {
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        var logits = Model.forward(img, flo)[0].cpu();
        var mask = VosModel.ToMask(logits.unsqueeze(0))[0].to_type(ScalarType.Byte).contiguous();
        var bytes = mask.data<byte>().ToArray();
        return new FramePrediction { Logits = logits.MoveToOuterDisposeScope(), Mask = bytes, Width = width, Height = height };
    }

    public void Dispose() => Model.Dispose();
}
