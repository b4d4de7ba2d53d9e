using System.CommandLine;
using TorchSharp;

namespace Cmtm.Cli.Commands;

public static class VersionCommand
{
    public static Command Create()
    {
        var cmd = new Command("version", "Print versions of CMTM.NET, TorchSharp and libtorch, and the thread count.");
        cmd.SetAction(_ =>
        {
            Console.WriteLine($"cmtm {typeof(CmtmException).Assembly.GetName().Version}");
            Console.WriteLine($"torchsharp {typeof(torch).Assembly.GetName().Version}, libtorch {Cmtm.Runtime.TorchRuntime.LibTorchPackage}, threads {torch.get_num_threads()}");
            Console.WriteLine($"cuda available: {torch.cuda.is_available()}");
            Console.WriteLine($"cpu allocator: {Cmtm.Runtime.TorchRuntime.AllocatorNote}");
            Console.WriteLine($"cpu native bf16 (AVX-512-BF16 / AMX, for --precision bf16): {(Cmtm.Model.Precisions.CpuHasNativeBf16 ? "yes" : "no")}");
            return 0;
        });
        return cmd;
    }
}
