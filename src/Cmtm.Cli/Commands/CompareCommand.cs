using System.CommandLine;
using Cmtm.Evaluation;
using Cmtm.IO;

namespace Cmtm.Cli.Commands;

/// <summary>
/// `cmtm compare --dataset davis16 --root R resultsA resultsB ... [--names a,b] [--csv F]`: scores every results
/// folder and prints the overall numbers side by side, then the headline metric per sequence.
/// </summary>
public static class CompareCommand
{
    public static Command Create()
    {
        var dataset = new Option<string>("--dataset") { Description = "davis16 | fbms | yto | lvd", Required = true };
        var root = new Option<string>("--root") { Description = "dataset root", Required = true };
        var split = new Option<string>("--split") { Description = "DAVIS split", DefaultValueFactory = _ => "val" };
        var names = new Option<string?>("--names") { Description = "comma-separated method names (default: folder names)" };
        var csv = new Option<string?>("--csv") { Description = "write the overall comparison as CSV" };
        var threads = new Option<int>("--threads") { Description = "worker threads (default: all cores)", DefaultValueFactory = _ => Environment.ProcessorCount };
        var folders = new Argument<string[]>("results") { Description = "results folders", Arity = ArgumentArity.OneOrMore };
        var cmd = new Command("compare", "Score several results folders on one dataset and print them side by side.")
        {
            dataset, root, split, names, csv, threads, folders,
        };
        cmd.SetAction(p =>
        {
            var dirs = p.GetValue(folders)!;
            var given = p.GetValue(names);
            var labels = given != null ? given.Split(',', StringSplitOptions.TrimEntries) : dirs.Select(d => Path.GetFileName(Path.TrimEndingDirectorySeparator(d))).ToArray();
            if (labels.Length != dirs.Length)
                throw new CmtmException("--names", $"gives {labels.Length} names for {dirs.Length} results folders");
            var methods = new List<(string, EvaluationReport)>();
            for (var i = 0; i < dirs.Length; i++)
                methods.Add((labels[i], Evaluator.ScoreFolder(p.GetValue(dataset)!, p.GetValue(root)!, dirs[i], p.GetValue(split)!, p.GetValue(threads))));
            Console.Out.Write(ReportWriters.CompareTable(methods));
            var csvPath = p.GetValue(csv);
            if (csvPath != null)
            {
                AtomicFile.WriteAllText(csvPath, ReportWriters.CompareCsv(methods));
                Console.Out.WriteLine($"wrote {csvPath}");
            }
            return 0;
        });
        return cmd;
    }
}
