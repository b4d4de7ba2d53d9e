using System.CommandLine;
using Cmtm.IO.Checkpoints;
using Cmtm.Model;

namespace Cmtm.Cli.Commands;

/// <summary>`cmtm inspect`: format, detected architecture, parameter count and a key summary of a checkpoint.</summary>
public static class InspectCommand
{
    public static Command Create()
    {
        var path = new Argument<FileInfo>("checkpoint") { Description = ".pth or .safetensors file" };
        var keys = new Option<bool>("--keys") { Description = "list every key with its shape and dtype" };
        var cmd = new Command("inspect", "Describe a checkpoint: format, architecture, parameters, keys.") { path, keys };
        cmd.SetAction(r =>
        {
            var file = r.GetValue(path)!.FullName;
            var info = CheckpointReader.Describe(file);
            Console.WriteLine(info.ToString());
            var (sd, stored) = ModelCheckpoint.Read(file);
            using (sd)
            {
                string arch;
                try
                {
                    var cfg = stored ?? ModelCheckpoint.Detect(sd);
                    arch = $"{cfg.Name}, resolution {cfg.Resolution}" + (cfg.Architecture == Architecture.Cmtm
                        ? $", modulator dim {cfg.ModulatorDim} x {cfg.Modulator.Depth} blocks, {cfg.TokensPerModality} tokens/modality" : "")
                        + (stored != null ? " (stored config)" : " (detected from keys)");
                }
                catch (CmtmException e) { arch = "not a CMTM/FakeFlow model: " + e.Problem; }
                Console.WriteLine($"architecture: {arch}");
                long trainable = sd.ParameterCount(k => !k.EndsWith(".mean") && !k.EndsWith(".std") && !k.EndsWith("num_batches_tracked") && !k.Contains("running_"));
                Console.WriteLine($"parameters: {trainable:N0} (tensors {sd.Count})");
                foreach (var group in sd.Keys.GroupBy(k => string.Join('.', k.Split('.').Take(k.StartsWith("vos.") ? 2 : 1))))
                    Console.WriteLine($"  {group.Key}.*: {group.Count()} tensors, {group.Sum(k => sd[k].numel()):N0} elements");
                if (r.GetValue(keys))
                    foreach (var (k, v) in sd.Items) Console.WriteLine($"  {k} {ModuleLoader.Shape(v)} {v.dtype}");
            }
            return 0;
        });
        return cmd;
    }
}
