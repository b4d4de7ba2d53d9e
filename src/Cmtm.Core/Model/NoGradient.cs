using static TorchSharp.torch;

namespace Cmtm.Model;

/// <summary>
/// Whether an op's result needs no gradient (inference mode, no_grad, or inputs that do not require one): the
/// condition under which the inference-only fast paths (Winograd convs, the depthwise conv on the NHWC view, bicubic up-sampling by matmul, CBAM's
/// in-place products) replace the differentiable ones.
/// </summary>
internal static class NoGradient
{
    public static bool For(Tensor a) => !is_grad_enabled() || !a.requires_grad;

    public static bool For(Tensor a, Tensor b) => !is_grad_enabled() || (!a.requires_grad && !b.requires_grad);
}
