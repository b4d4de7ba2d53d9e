using Cmtm.Model;
using Cmtm.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Cmtm.Tests.Training;

/// <summary><see cref="SafeAdam"/> is TorchSharp's Adam bit for bit (weights and optimiser state), only without the
/// temporary Scalars that a garbage collection could free in mid-call.</summary>
[Collection("torch-global-state")]
public class SafeAdamTests
{
    private static Sequential Net(long seed)
    {
        manual_seed(seed);
        return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3));
    }

    private static byte[] Bytes(Tensor t)
    {
        using var scope = NewDisposeScope();
        return t.detach().cpu().contiguous().bytes.ToArray();
    }

    [Theory]
    [InlineData(0.0, false, false)]
    [InlineData(0.01, true, true)]
    public void SameWeightsAndStateAsTorchSharpsAdamOverSeveralSteps(double weightDecay, bool amsgrad, bool maximize)
    {
        using var a = Net(3); using var b = Net(3);
        using var reference = optim.Adam(a.parameters(), 1e-2, 0.9, 0.99, 1e-6, weightDecay, amsgrad, maximize);
        using var safe = new SafeAdam(b.parameters(), 1e-2, 0.9, 0.99, 1e-6, weightDecay, amsgrad, maximize);
        for (int step = 0; step < 6; step++)
        {
            double lr = 1e-2 * (1 + step) / 6; // a schedule, as LrSchedule.Apply sets it
            foreach (var g in reference.ParamGroups) g.LearningRate = lr;
            foreach (var g in safe.ParamGroups) g.LearningRate = lr;
            using var x = randn(5, 6); using var target = randn(5, 3);
            foreach (var (net, opt) in new (Sequential, optim.Optimizer)[] { (a, reference), (b, safe) })
            {
                using var scope = NewDisposeScope();
                opt.zero_grad();
                nn.functional.mse_loss(net.forward(x), target).backward();
            }
            reference.step();
            safe.Step();
        }
        var pa = a.parameters().ToArray(); var pb = b.parameters().ToArray();
        Assert.Equal(pa.Length, pb.Length);
        for (int i = 0; i < pa.Length; i++)
        {
            Assert.Equal(Bytes(pa[i]), Bytes(pb[i]));
            var sa = (Adam.State)reference.state_dict().State[i];
            var sb = (Adam.State)safe.state_dict().State[i];
            Assert.Equal(6, sb.step);
            Assert.Equal(sa.step, sb.step);
            Assert.Equal(Bytes(sa.exp_avg), Bytes(sb.exp_avg));
            Assert.Equal(Bytes(sa.exp_avg_sq), Bytes(sb.exp_avg_sq));
            if (amsgrad) Assert.Equal(Bytes(sa.max_exp_avg_sq), Bytes(sb.max_exp_avg_sq));
        }
        // the weights did move
        using var fresh = Net(3);
        Assert.NotEqual(Bytes(fresh.parameters().First()), Bytes(pb[0]));
    }

    /// <summary>The trained model runs no BatchNorm: TorchSharp's BatchNorm.forward makes a temporary Scalar in training
    /// mode, and the Scalar audit does not follow module forwards (see ScalarLifetimeAudit).</summary>
    [Theory]
    [InlineData("cmtm-b0")]
    [InlineData("fakeflow-b0")]
    public void TrainedModelsHoldNoBatchNorm(string arch)
    {
        using var model = new VosModel(ModelConfig.Parse(arch, 64));
        var kinds = model.modules().Select(m => m.GetType().Name).ToList();
        Assert.Contains(kinds, k => k.Contains("LayerNorm"));
        Assert.DoesNotContain(kinds, k => k.StartsWith("BatchNorm", StringComparison.Ordinal));
    }
}
