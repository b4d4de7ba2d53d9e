using System.CommandLine;
using Cmtm.Model;
using static TorchSharp.torch;

namespace Cmtm.Cli.Commands;

/// <summary>Options shared by several commands, defined once.</summary>
public static class CommonOptions
{
    public static Option<FileInfo?> Weights() => new("--weights")
    { Description = $"checkpoint: official CMTM/FakeFlow .pth or CMTM.NET .safetensors (default: the shipped model {ShippedModel.RepositoryPath}, or the file named by {ShippedModel.EnvironmentVariable})" };

    /// <summary>Loads the chosen checkpoint; when it is the shipped model, says so in one line on stderr.</summary>
    public static VosModel LoadModel(ShippedModel.Choice choice, string? arch, int? resolution, Device device)
    {
        var model = ModelCheckpoint.Load(choice.Path, arch, resolution, device, n => Console.Error.WriteLine("note: " + n));
        if (choice.UsingLine(model.Config) is string line) Console.Error.WriteLine(line);
        return model;
    }

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
