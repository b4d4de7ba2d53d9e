using System.CommandLine;
using Cmtm.Model;
using static TorchSharp.torch;

namespace Cmtm.Cli.Commands;

/// <summary>Options shared by several commands, defined once.</summary>
public static class CommonOptions
{
    public static Option<string> Arch() => new("--arch")
    { Description = "auto (from the checkpoint) or cmtm-b0..b5 / fakeflow-b0..b5", DefaultValueFactory = _ => "auto" };

    public static Option<int?> Resolution() => new("--resolution")
    { Description = "model input size (multiple of 32; default: the checkpoint's, else 512)" };

    public static Option<string> Device() => new("--device")
    { Description = "cpu or cuda[:N]", DefaultValueFactory = _ => "cpu" };

    public static Option<string> Precision() => new("--precision")
    { Description = "inference number format: fp32 (the reference) or bf16 (faster on CPUs with AVX-512-BF16 or AMX)", DefaultValueFactory = _ => "fp32" };

    /// <summary>Parses --precision (a bad value fails before any model loads) and notes when it will be slow here.</summary>
    public static Precision ParsePrecision(string? name, Device device)
    {
        var p = Precisions.Parse(name);
        if (Precisions.SpeedNote(p, device) is string note) Console.Error.WriteLine("note: " + note);
        return p;
    }

    public static Option<int> Threads() => new("--threads")
    { Description = "libtorch intra-op threads (0 = libtorch default)", DefaultValueFactory = _ => 0 };
}
