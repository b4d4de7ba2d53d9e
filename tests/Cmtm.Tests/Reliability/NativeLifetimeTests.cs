using Cmtm.Runtime;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Cmtm.Tests.Reliability;

/// <summary>
/// Issue 12 item 0: no TorchSharp Scalar in the product can be finalised while libtorch still reads it (see
/// <see cref="ScalarLifetimeAudit"/>); checked on the compiled assemblies, so every call site counts, including the
/// implicit conversions the source does not show and the TorchSharp methods that make Scalars of their own.
/// </summary>
public class NativeLifetimeTests(ITestOutputHelper output)
{
    private static string Bin(string file) => Path.Combine(AppContext.BaseDirectory, file);

    private static readonly Lazy<ScalarLifetimeAudit.TorchSharpFacts> TorchSharp = new(() =>
    {
        using var ts = ScalarLifetimeAudit.Read(Bin("TorchSharp.dll"), symbols: false);
        return ScalarLifetimeAudit.Analyse(ts);
    });

    [Theory]
    [InlineData("Cmtm.Core.dll")]
    [InlineData("cmtm.dll")]
    public void NoTemporaryScalarInTheProduct(string assembly)
    {
        using var module = ScalarLifetimeAudit.Read(Bin(assembly), symbols: true);
        var findings = ScalarLifetimeAudit.Audit(module, TorchSharp.Value);
        foreach (var f in findings) output.WriteLine(f.ToString());
        Assert.True(findings.Count == 0, $"{findings.Count} temporary Scalar(s):\n" + string.Join("\n", findings));
    }

    /// <summary>The audit has teeth: it flags each unsafe pattern of <see cref="AuditExamples"/> and none of the safe ones.</summary>
    [Fact]
    public void AuditFlagsEachUnsafePatternAndNoSafeOne()
    {
        using var module = ScalarLifetimeAudit.Read(Bin("Cmtm.Tests.dll"), symbols: true);
        var flagged = ScalarLifetimeAudit.Audit(module, TorchSharp.Value)
            .Where(f => f.Method.StartsWith(typeof(AuditExamples).FullName + "::", StringComparison.Ordinal))
            .Select(f => f.Method.Split("::")[1]).Distinct().Order().ToArray();
        Assert.Equal(new[] { nameof(AuditExamples.AddOperator), nameof(AuditExamples.AddTensorInPlace), nameof(AuditExamples.Arange),
                             nameof(AuditExamples.ImplicitScalar), nameof(AuditExamples.LocalNotKeptAlive), nameof(AuditExamples.OptimizerStep),
                             nameof(AuditExamples.ScalarOperator) }, flagged);
    }
}

/// <summary>Unsafe and safe Scalar patterns for <see cref="NativeLifetimeTests.AuditFlagsEachUnsafePatternAndNoSafeOne"/>
/// (compiled, never run).</summary>
internal static class AuditExamples
{
    private static readonly Scalar Two = 2.0.ToScalar();

    // unsafe
    public static Tensor ImplicitScalar(Tensor t) => t.div(255f);
    public static Tensor ScalarOperator(Tensor t) => t * 2;
    public static Tensor AddOperator(Tensor a, Tensor b) => a + b;
    public static Tensor AddTensorInPlace(Tensor a, Tensor b) => a.add_(b);
    public static Tensor Arange(long n) => arange(n);
    public static void OptimizerStep(optim.Optimizer o) => o.step();
    public static Tensor LocalNotKeptAlive(Tensor t)
    {
        var s = 2.0.ToScalar();
        return t.mul(s);
    }

    // safe
    public static Tensor DisposedLocal(Tensor t)
    {
        using var s = 2.0.ToScalar();
        return t.mul(s);
    }
    public static Tensor KeptAliveLocal(Tensor t)
    {
        var s = 2.0.ToScalar();
        var y = t.mul(s);
        GC.KeepAlive(s);
        return y;
    }
    public static Tensor StaticScalar(Tensor t) => t.mul(Two);
    public static Tensor AddWithAlpha(Tensor a, Tensor b) => a.add(b, Scalars.Int1);
    public static Tensor TensorProduct(Tensor a, Tensor b) => a * b;
    public static Tensor SafeArange(long n) => Scalars.Arange(n);
    public static void SafeAdamStep(Cmtm.Training.SafeAdam o) => o.Step();
}
