using System.CommandLine;
using Cmtm.Model;
using TorchSharp;

namespace Cmtm.Cli.Commands;

/// <summary>`cmtm export IN OUT [--storage fp32|fp16|bf16]`: any CMTM/FakeFlow checkpoint as our safetensors (e.g. half-size for shipping).</summary>
public static class ExportCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("checkpoint") { Description = "any CMTM / FakeFlow checkpoint (official .pth or our .safetensors)" };
        var output = new Argument<string>("out") { Description = "output .safetensors (written atomically)" };
        var storage = new Option<string>("--storage") { Description = "weight storage: fp32, fp16 or bf16 (half the size; loading converts back to float32)", DefaultValueFactory = _ => "fp32" };
        var cmd = new Command("export", "Write a checkpoint in CMTM.NET's safetensors format, optionally with 16-bit weight storage.") { input, output, storage };
        cmd.SetAction(p =>
        {
            var type = p.GetValue(storage)!.ToLowerInvariant() switch
            {
                "fp32" or "float32" => torch.ScalarType.Float32,
                "fp16" or "float16" => torch.ScalarType.Float16,
                "bf16" or "bfloat16" => torch.ScalarType.BFloat16,
                var s => throw new CmtmException("--storage", $"unknown storage '{s}' (expected fp32, fp16 or bf16)"),
            };
            var src = p.GetValue(input)!;
            if (!File.Exists(src)) throw new CmtmException(src, "checkpoint not found");
            using var model = ModelCheckpoint.Load(src);
            var dst = p.GetValue(output)!;
            ModelCheckpoint.Save(dst, model, storage: type);
            Console.Out.WriteLine($"wrote {dst} ({model.Config.Name} at {model.Config.Resolution} px, {type} storage, {new FileInfo(dst).Length / 1e6:0.0} MB)");
            return 0;
        });
        return cmd;
    }
}
