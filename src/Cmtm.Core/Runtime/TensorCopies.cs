using static TorchSharp.torch;

namespace Cmtm.Runtime;

/// <summary>
/// Detached copies of tensors with every intermediate held by a local until libtorch is done with it: in a chain such as
/// <c>t.detach().cpu().clone()</c> outside a DisposeScope, the unnamed <c>detach()</c> and <c>cpu()</c> results are
/// unreachable during the next native call, and a garbage collection at that moment lets their finalisers free them
/// mid-call (the same class as the temporary Scalars of <see cref="Scalars"/>).
/// </summary>
public static class TensorCopies
{
    /// <summary>t.detach().clone(): a copy with no autograd history, on t's device.</summary>
    public static Tensor DetachedClone(Tensor t)
    {
        using var detached = t.detach();
        return detached.clone();
    }

    /// <summary>t.detach().cpu().clone(): a CPU copy that shares no memory with t.</summary>
    public static Tensor CpuClone(Tensor t)
    {
        using var detached = t.detach();
        using var cpu = detached.cpu();
        return cpu.clone();
    }

    /// <summary>t.detach().cpu().contiguous(): CPU, contiguous, no autograd history; may share t's memory.</summary>
    public static Tensor CpuContiguous(Tensor t)
    {
        using var detached = t.detach();
        using var cpu = detached.cpu();
        return cpu.contiguous();
    }
}
