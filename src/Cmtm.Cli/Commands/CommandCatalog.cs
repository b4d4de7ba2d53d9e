using System.CommandLine;

namespace Cmtm.Cli.Commands;

/// <summary>The list of `cmtm` subcommands; each lives in its own file.</summary>
public static class CommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return VersionCommand.Create();
        yield return InspectCommand.Create();
        yield return ExportCommand.Create();
        yield return PredictCommand.Create();
        yield return SegmentCommand.Create();
        yield return ServeCommand.Create();
        yield return BenchCommand.Create();
        yield return EvaluateCommand.Create();
        yield return CompareCommand.Create();
        yield return FlowCommand.Create();
        yield return ShardsCommand.Create();
        yield return SynthCommand.Create();
        yield return TrainCommand.Create();
        yield return DemoCommand.Create();
    }
}
