using System.CommandLine;

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

    public static Option<int> Threads() => new("--threads")
    { Description = "libtorch intra-op threads (0 = libtorch default)", DefaultValueFactory = _ => 0 };
}
