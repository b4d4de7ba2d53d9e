using Cmtm.Model;
using Cmtm.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Cmtm.Training;

/// <summary>The outcome of one optimisation step.</summary>
public readonly record struct StepResult(double Loss, double Iou);

/// <summary>
/// One training step exactly as the official trainer: forward in training mode (token masking, DropPath),
/// 2-class cross-entropy averaged over all pixels, zero_grad, backward, optimizer step.
/// </summary>
public static class TrainStep
{
    /// <summary>Cross-entropy between logits (B,2,H,W) and masks (B,H,W) int64 {0,1} (torch CrossEntropyLoss, mean).</summary>
    public static Tensor Loss(Tensor logits, Tensor masks) => nn.functional.cross_entropy(logits, masks);

    /// <summary>
    /// Training-time IoU as the official logger: per class (inter + 1e-7) / (union + 1e-7) on the argmax, foreground class.
    /// </summary>
    public static double ForegroundIou(Tensor logits, Tensor masks)
    {
        using var scope = NewDisposeScope();
        var pred = logits.argmax(1);
        var p = pred.eq(Scalars.Int1); var g = masks.eq(Scalars.Int1);
        double inter = p.logical_and(g).sum().item<long>(), union = p.logical_or(g).sum().item<long>();
        return (inter + 1e-7) / (union + 1e-7);
    }

    /// <summary>images, flows: (B,3,R,R) in [0,1] at the model resolution; masks (B,R,R) int64.</summary>
    /// <param name="oneDnnForward">CPU speed-up: run the forward pass with oneDNN (correct, and several times faster for
    /// the encoders' depthwise convolutions) and the backward pass without it (libtorch picks the convolution backend
    /// again at backward time, so the faulty oneDNN conv backward is never used). Off = the plain official step.</param>
    public static StepResult Run(VosModel model, SafeAdam optimizer, Tensor images, Tensor flows, Tensor masks, bool oneDnnForward = false)
    {
        using var scope = NewDisposeScope();
        model.train();
        bool restore = TorchRuntime.MkldnnEnabled;
        Tensor logits;
        if (oneDnnForward) TorchRuntime.MkldnnEnabled = true;
        try { logits = model.forward(images, flows); }
        finally { TorchRuntime.MkldnnEnabled = oneDnnForward ? false : restore; }
        var loss = Loss(logits, masks);
        optimizer.zero_grad();
        try { loss.backward(); }
        finally { TorchRuntime.MkldnnEnabled = restore; }
        optimizer.Step();
        return new StepResult(loss.item<float>(), ForegroundIou(logits.detach(), masks));
    }

    /// <summary>
    /// Turns oneDNN off for the rest of the process when training on CPU: libtorch 2.10's oneDNN returns wrong or NaN
    /// conv2d gradients on some CPUs (3x3 convs with few output channels, batch &gt; 1). Inference is unaffected.
    /// </summary>
    public static void PrepareCpuBackend(Device device)
    {
        if (device.type == DeviceType.CPU) TorchRuntime.MkldnnEnabled = false;
    }
}
