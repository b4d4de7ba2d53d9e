using Cmtm.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Cmtm.Training;

/// <summary>
/// torch.optim.Adam whose step keeps its Scalars alive through the libtorch calls that read them. TorchSharp 0.107's
/// <see cref="Adam.step"/> passes temporary Scalars (<c>mul_(beta1)</c>, <c>add_(grad, 1 - beta1)</c>,
/// <c>/ sqrt(bias_correction2)</c>, <c>add_(eps)</c>, the step size) that a garbage collection can free in mid-call
/// ("Unknown scalar type" in THSTensor_div_scalar, toFloat in addcmul_, or a segmentation fault); see
/// <see cref="Scalars"/>. The update is TorchSharp's, operation for operation with Scalars of the same values and types,
/// so weights and optimiser state are bit-identical to <see cref="Adam"/> (tested), and the state is Adam's own
/// (<see cref="Adam.State"/>, saved and loaded by TrainCheckpoint as before).
/// </summary>
public sealed class SafeAdam : Adam
{
    /// <summary>The arguments of torch.optim.Adam.</summary>
    public SafeAdam(IEnumerable<Parameter> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
        double weight_decay = 0, bool amsgrad = false, bool maximize = false)
        : base(parameters, lr, beta1, beta2, eps, weight_decay, amsgrad, maximize) { }

    /// <summary>One Adam update of every parameter with a gradient (<see cref="Step"/>).</summary>
    public override Tensor step(Func<Tensor>? closure = null) => Step(closure);

    /// <summary>
    /// One Adam update of every parameter with a gradient; called directly (not through the virtual
    /// <see cref="Adam.step"/>), so a caller cannot reach TorchSharp's version by mistake.
    /// </summary>
    public Tensor Step(Func<Tensor>? closure = null) => _step<ParamGroup>(group =>
    {
        var o = group.Options;
        double beta1 = o.beta1!.Value, beta2 = o.beta2!.Value, weightDecay = o.weight_decay!.Value, eps = o.eps!.Value, lr = o.LearningRate!.Value;
        bool amsgrad = o.amsgrad!.Value, maximize = o.maximize!.Value;
        using var sBeta1 = beta1.ToScalar();
        using var sBeta2 = beta2.ToScalar();
        using var sOneMinusBeta1 = (1.0 - beta1).ToScalar();
        using var sOneMinusBeta2 = (1.0 - beta2).ToScalar();
        using var sEps = eps.ToScalar();
        using var sWeightDecay = weightDecay.ToScalar();
        foreach (var param in group.Parameters)
        {
            var state = (State)_state[param.Handle];
            var grad = param.grad;
            if (grad is null) continue;
            if (maximize) grad = -grad;
            state.step++;
            double biasCorrection1 = 1.0 - Math.Pow(beta1, state.step);
            double biasCorrection2 = 1.0 - Math.Pow(beta2, state.step);
            if (weightDecay != 0.0) grad = grad.add(param, sWeightDecay);
            state.exp_avg.mul_(sBeta1).add_(grad, sOneMinusBeta1);
            state.exp_avg_sq.mul_(sBeta2).addcmul_(grad, grad.conj(), sOneMinusBeta2);
            using var sSqrtBias2 = Math.Sqrt(biasCorrection2).ToScalar();
            Tensor denom;
            if (amsgrad)
            {
                var previous = state.max_exp_avg_sq;
                state.max_exp_avg_sq = maximum(previous, state.exp_avg_sq).DetachFromDisposeScope();
                previous.Dispose();
                denom = state.max_exp_avg_sq.sqrt().div(sSqrtBias2).add_(sEps, Scalars.Int1);
            }
            else denom = state.exp_avg_sq.sqrt().div(sSqrtBias2).add_(sEps, Scalars.Int1);
            using var sStepSize = (0.0 - lr / biasCorrection1).ToScalar();
            param.addcdiv_(state.exp_avg, denom, sStepSize);
        }
    }, closure);
}
