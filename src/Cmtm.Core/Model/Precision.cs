using TorchSharp;
using static TorchSharp.torch;

namespace Cmtm.Model;

/// <summary>
/// The number format a model runs inference in. fp32 is the reference (every parity test). bf16 (bfloat16: float32's
/// 8-bit exponent, 8-bit mantissa) converts the weights and the activations between the resizes; the input and output
/// resizes and the logits stay float32. On CPUs with AVX-512-BF16 (or AMX) oneDNN runs the convolutions and matrix
/// products with native bf16 dot products at twice the fp32 rate; elsewhere libtorch emulates them and bf16 is slower.
/// Inference only: training stays fp32.
/// </summary>
public enum Precision { Fp32, Bf16 }

public static class Precisions
{
    public const string Choices = "fp32 or bf16";

    public static Precision Parse(string? name) => (name ?? "fp32").Trim().ToLowerInvariant() switch
    {
        "fp32" or "float32" or "float" => Precision.Fp32,
        "bf16" or "bfloat16" => Precision.Bf16,
        var other => throw new CmtmException("precision", $"unknown precision '{other}' (expected {Choices})"),
    };

    public static string Name(this Precision p) => p == Precision.Bf16 ? "bf16" : "fp32";

    public static ScalarType DType(this Precision p) => p == Precision.Bf16 ? ScalarType.BFloat16 : ScalarType.Float32;

    /// <summary>Whether this CPU has native bf16 dot products (AVX-512-BF16 or AMX-BF16), from /proc/cpuinfo.</summary>
    public static bool CpuHasNativeBf16 { get; } = ReadCpuBf16();

    private static bool ReadCpuBf16()
    {
        try
        {
            var flags = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags"));
            if (flags == null) return false;
            var set = flags[(flags.IndexOf(':') + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return set.Contains("avx512_bf16") || set.Contains("amx_bf16");
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    /// <summary>A one-line note when the choice will be slow on this device (bf16 on a CPU without native bf16), else null.</summary>
    public static string? SpeedNote(Precision p, Device device) =>
        p == Precision.Bf16 && device.type == DeviceType.CPU && !CpuHasNativeBf16
            ? "this CPU has no AVX-512-BF16 / AMX-BF16: libtorch emulates bf16 here, expect it to be slower than fp32"
            : null;
}
