using System.CommandLine;
using Cmtm.Cli.Commands;

namespace Cmtm.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("CMTM.NET: unsupervised video object segmentation (Cross-Modal Token Modulation) in C#.");
        foreach (var command in CommandCatalog.All())
            root.Subcommands.Add(command);
        return CliRunner.Run(root, args);
    }
}
