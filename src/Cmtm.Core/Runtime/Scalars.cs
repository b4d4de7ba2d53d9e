using TorchSharp;
using static TorchSharp.torch;

namespace Cmtm.Runtime;

/// <summary>
/// Long-lived TorchSharp Scalars for the constants the code hands to libtorch ("training on real video
/// crashes").
/// <para>
/// A TorchSharp <see cref="Scalar"/> owns a native at::Scalar and frees it in its finaliser, and TorchSharp's tensor
/// methods read the handle and call libtorch without keeping the Scalar alive (no GC.KeepAlive; DisposeScopes hold
/// tensors, never Scalars). A Scalar made for one call, such as the implicit one of <c>t.div(255f)</c> or the alpha = 1
/// that TorchSharp's own <c>a + b</c> (<c>a.add(b, 1)</c>) creates, is unreachable while libtorch runs, so a garbage
/// collection at that moment lets its finaliser free it mid-call: "Unknown scalar type", Scalar.h toFloat errors, or a
/// segmentation fault, at random steps.
/// </para>
/// <para>
/// The rule: a constant is one of these fields (alive for the whole process; an at::Scalar is immutable, so threads
/// may share it), a value known only at run time is held by a <c>using var</c> local until the call has returned, and
/// TorchSharp methods that make Scalars of their own (operators with numbers, <c>a + b</c>, <c>add_(t)</c>,
/// <c>arange(n)</c>, the optimisers' step) are not called. NativeLifetimeTests checks the rule on the compiled
/// assemblies. Each field has the numeric type the implicit conversion it replaces would have made, so results are
/// bit-identical.
/// </para>
/// </summary>
public static class Scalars
{
    /// <summary>0 (Int32).</summary>
    public static readonly Scalar Int0 = 0.ToScalar();

    /// <summary>1 (Int32): the alpha of TorchSharp's own <c>add(Tensor)</c>, so <c>a.add(b, Int1)</c> is <c>a + b</c>.</summary>
    public static readonly Scalar Int1 = 1.ToScalar();

    /// <summary>255 (Int32).</summary>
    public static readonly Scalar Int255 = 255.ToScalar();

    /// <summary>255 (Float32): byte / 255f, the official ToTensor.</summary>
    public static readonly Scalar Float255 = 255f.ToScalar();

    /// <summary>0, 1, ..., <paramref name="n"/> - 1 as torch.arange(n) (int64 unless <paramref name="dtype"/> is given),
    /// without TorchSharp's temporary Scalars of <c>arange(Scalar)</c>.</summary>
    public static Tensor Arange(long n, ScalarType? dtype = null, Device? device = null)
    {
        using var stop = n.ToScalar();
        return arange(Int0, stop, Int1, dtype, device);
    }
}
