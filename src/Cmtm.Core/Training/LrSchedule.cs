using TorchSharp;

namespace Cmtm.Training;

/// <summary>How the learning rate changes over a run.</summary>
public enum LrScheduleKind
{
    /// <summary>The official trainer: the same learning rate for every step.</summary>
    Constant,
    /// <summary>Linear warm-up, then cosine decay to zero at the last step (short runs such as `cmtm demo` end on a
    /// settled model instead of a point on a noisy curve).</summary>
    Cosine,
}

/// <summary>
/// The learning rate of a step as a pure function of the step index, so a resumed run needs no extra state.
/// </summary>
public sealed record LrSchedule(LrScheduleKind Kind, double BaseLr, long TotalSteps, long WarmupSteps)
{
    /// <summary>Learning rate for step <paramref name="step"/> (0-based: the step about to run).</summary>
    public double At(long step)
    {
        if (Kind == LrScheduleKind.Constant) return BaseLr;
        if (WarmupSteps > 0 && step < WarmupSteps) return BaseLr * (step + 1) / WarmupSteps;
        long span = Math.Max(1, TotalSteps - WarmupSteps);
        double progress = Math.Clamp((double)(step - WarmupSteps) / span, 0, 1);
        return BaseLr * 0.5 * (1 + Math.Cos(Math.PI * progress));
    }

    /// <summary>Sets every parameter group of <paramref name="optimizer"/> to the rate of <paramref name="step"/>.</summary>
    public void Apply(torch.optim.Optimizer optimizer, long step)
    {
        double lr = At(step);
        foreach (var g in optimizer.ParamGroups) g.LearningRate = lr;
    }
}
