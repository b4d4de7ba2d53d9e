using System.Diagnostics;
using YamlDotNet.RepresentationModel;

namespace Cmtm.Tests.Sharding;

/// <summary>
/// The job files in deploy/: the Kubernetes indexed Job manifest parses and has what an indexed Job needs
/// (it cannot run here: no cluster), the Slurm array script is valid bash with an array, and the Dockerfile the
/// manifest names exists. The Slurm script itself runs in <see cref="SlurmArrayTests"/>.
/// </summary>
public class DeployFilesTests
{
    public static string Repo
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "deploy", "slurm-array.sh"))) return d.FullName;
            throw new DirectoryNotFoundException("repository with deploy/ not found above " + AppContext.BaseDirectory);
        }
    }

    private static YamlMappingNode Map(YamlNode node, string key) => (YamlMappingNode)((YamlMappingNode)node)[key];
    private static string Scalar(YamlNode node, string key) => ((YamlScalarNode)((YamlMappingNode)node)[key]).Value!;

    [Fact]
    public void KubernetesManifest_IsAnIndexedJobWithTheShardCountOfItsCompletions()
    {
        var yaml = new YamlStream();
        using (var reader = new StreamReader(Path.Combine(Repo, "deploy", "k8s-indexed-job.yaml"))) yaml.Load(reader);
        var doc = Assert.Single(yaml.Documents).RootNode;
        Assert.Equal("batch/v1", Scalar(doc, "apiVersion"));
        Assert.Equal("Job", Scalar(doc, "kind"));
        Assert.False(string.IsNullOrEmpty(Scalar(Map(doc, "metadata"), "name")));
        var spec = Map(doc, "spec");
        Assert.Equal("Indexed", Scalar(spec, "completionMode"));
        var completions = int.Parse(Scalar(spec, "completions"));
        Assert.True(completions >= 1);
        var pod = Map(Map(spec, "template"), "spec");
        Assert.Contains(Scalar(pod, "restartPolicy"), new[] { "Never", "OnFailure" });
        var container = (YamlMappingNode)Assert.Single(((YamlSequenceNode)pod["containers"]).Children);
        Assert.Equal("cmtm-net:latest", Scalar(container, "image"));
        var env = ((YamlSequenceNode)container["env"]).Children.Cast<YamlMappingNode>().ToDictionary(e => Scalar(e, "name"), e => Scalar(e, "value"));
        Assert.Equal(completions.ToString(), env[Cmtm.Sharding.ShardEnvironment.CountVariable]); // N must equal completions
        var script = string.Join(" ", ((YamlSequenceNode)container["args"]).Children.Cast<YamlScalarNode>().Select(s => s.Value));
        Assert.Contains("cmtm flow --list", script);
        Assert.Contains("cmtm segment --list", script);
        // the image it names is the Dockerfile's
        Assert.Contains("-t cmtm-net:latest", File.ReadAllText(Path.Combine(Repo, "deploy", "Dockerfile")));
    }

    [Fact]
    public void SlurmScript_IsValidBashWithAnArray()
    {
        var path = Path.Combine(Repo, "deploy", "slurm-array.sh");
        var text = File.ReadAllText(path);
        Assert.Contains("#SBATCH --array=0-", text);
        Assert.Contains("CMTM_SHARD_COUNT", text);
        using var bash = Process.Start(new ProcessStartInfo("bash", ["-n", path]) { RedirectStandardError = true })!;
        var err = bash.StandardError.ReadToEnd();
        bash.WaitForExit();
        Assert.True(bash.ExitCode == 0, err);
    }
}
