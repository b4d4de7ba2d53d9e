using Cmtm.Data.Synthetic;
using Cmtm.IO;
using Cmtm.Tests.Evaluation;
using Cmtm.Tests.Support;
using Cmtm.Training;

namespace Cmtm.Tests.Training;

/// <summary>
/// The validation inside `train`: it scores half-size frames at their annotations' size, and a
/// validation that fails mid-run is reported and recorded as NaN while training goes on with resumable checkpoints.
/// </summary>
[Collection("torch-global-state")]
[Trait("Category", "Slow")] // over ~3 s: left out of ./test --fast
public class TrainValidationTests
{
    private sealed class Recorder : ITrainReporter
    {
        public readonly List<string> Messages = new();
        public Action<EpochRecord>? OnEpoch;
        public Action<TrainTick>? OnStep;
        public void Step(TrainTick tick) => OnStep?.Invoke(tick);
        public void Epoch(EpochRecord record, bool validated, bool best) => OnEpoch?.Invoke(record);
        public void Message(string message) => Messages.Add(message);
    }

    /// <summary>Two tiny synthetic training videos in <paramref name="d"/>; a cmtm-b0 run at 32 px on them, validated every epoch on <paramref name="val"/>.</summary>
    private static TrainOptions Tiny(Shared.TempDir d, string val, string run, int epochs, int samplesPerEpoch, int batchSize)
    {
        var data = d.File("synth");
        if (!Directory.Exists(data)) SyntheticDataset.Generate(data, 2, 3, 48, 48, 4, valVideos: 0);
        return new TrainOptions
        {
            Arch = "cmtm-b0", Resolution = 32, Train = ["synth=" + data], Val = val, Epochs = epochs, SamplesPerEpoch = samplesPerEpoch,
            BatchSize = batchSize, Lr = 1e-3, Seed = 3, Threads = 2, Out = d.File(run), ValEvery = 1, SaveEvery = 1000,
        };
    }

    [Fact]
    public void HalfSizeValidationScoresAndAFailedValidationIsRecordedAsNaNWithoutEndingTheRun()
    {
        using var d = new Shared.TempDir();
        using var val = new TinyDavis(halfSizeFrames: true);
        var flows = d.File("valflows");
        val.AddFlows(Path.Combine(flows, "JPEGFlows", "480p")); // the val set's flows in a folder of their own
        var options = Tiny(d, $"{val.Root},flows={flows}", "run", epochs: 2, samplesPerEpoch: 2, batchSize: 2);
        var annotation = Path.Combine(val.Root, "Annotations", "480p", "dog", "00001.png");
        var recorder = new Recorder();
        // after epoch 1 an annotation disappears: epoch 2's validation fails
        recorder.OnEpoch = r => { if (r.Epoch == 1) File.Move(annotation, annotation + ".away"); };
        using (var trainer = new Trainer(options, recorder))
        {
            var r = trainer.Run(reporter: recorder);
            Assert.False(r.Stopped);
            Assert.Equal(2, r.CompletedEpochs);
            Assert.InRange(r.Records[0].ValJF, 0, 1); // half-size frames scored at the 212x120 annotation size
            Assert.True(double.IsNaN(r.Records[1].ValJF));
            Assert.Equal(1, trainer.ValidationFailures);
            Assert.Equal(1, r.BestEpoch);
        }
        var failure = Assert.Single(recorder.Messages, m => m.Contains("validation after epoch 2 failed"));
        Assert.Contains(annotation, failure);
        Assert.Contains(recorder.Messages, m => m.StartsWith("validation: 2 sequence(s), 6 frames"));
        Assert.Equal((TinyDavis.Width, TinyDavis.Height), PngCodec.ReadSize(Path.Combine(d.File("run"), "val-results", "dog", "00001.png")));
        var csv = File.ReadAllLines(Path.Combine(d.File("run"), "metrics.csv"));
        Assert.Equal(3, csv.Length);
        Assert.Equal("NaN", csv[2].Split(',')[6]);

        // the run is resumable from its checkpoint: with the file back, a longer run validates again
        File.Move(annotation + ".away", annotation);
        using (var resumed = new Trainer(options with { Resume = true, Epochs = 3 }, recorder))
        {
            var r = resumed.Run(reporter: recorder);
            Assert.Equal(3, r.CompletedEpochs);
            Assert.InRange(r.Records[2].ValJF, 0, 1);
            Assert.Equal(0, resumed.ValidationFailures);
        }
    }

    /// <summary>
    /// Ctrl-C during the last step of an epoch (so also during its validation): the validation is abandoned (NaN), the
    /// epoch's checkpoint is written, and the next epoch's plan is not drawn, so the resumed run ends with exactly the
    /// weights, optimiser and RNG state of an uninterrupted one.
    /// </summary>
    [Fact]
    public void AStopAtTheEndOfAnEpochInterruptsItsValidationAndResumesToTheUninterruptedWeights()
    {
        using var d = new Shared.TempDir();
        using var val = new TinyDavis();
        val.AddFlows();
        TrainOptions Options(string run) => Tiny(d, val.Root, run, epochs: 2, samplesPerEpoch: 2, batchSize: 1);
        using (var full = new Trainer(Options("full"))) Assert.False(full.Run().Stopped);

        var recorder = new Recorder();
        using var cts = new CancellationTokenSource();
        recorder.OnStep = t => { if (t.Step == 2) cts.Cancel(); }; // the last step of epoch 1, as Ctrl-C would
        using (var part = new Trainer(Options("part"), recorder))
        {
            var r = part.Run(cts.Token, recorder);
            Assert.True(r.Stopped);
            Assert.Equal(1, r.CompletedEpochs);
            Assert.True(double.IsNaN(r.Records.Single().ValJF));
        }
        using (var resumed = new Trainer(Options("part") with { Resume = true }))
        {
            var r = resumed.Run();
            Assert.Equal(2, r.CompletedEpochs);
            Assert.InRange(r.Records[1].ValJF, 0, 1);
        }
        Reliability.Checkpoints.AssertSameTensors(TrainCheckpoint.ModelPath(d.File("full"), "last"), TrainCheckpoint.ModelPath(d.File("part"), "last"));
        Reliability.Checkpoints.AssertSameTensors(TrainCheckpoint.StatePath(d.File("full"), "last"), TrainCheckpoint.StatePath(d.File("part"), "last"));
        Assert.Contains("validation after epoch 1 interrupted by the stop, recorded as NaN", recorder.Messages);
        Assert.Contains(recorder.Messages, m => m.StartsWith("stopped after epoch 1, step 2"));
    }

    [Fact]
    public void AValidationSetWithAMissingFlowFailsBeforeTrainingNamingTheFileAndTheCommand()
    {
        using var d = new Shared.TempDir();
        using var val = new TinyDavis();
        var flows = d.File("valflows");
        val.AddFlows(Path.Combine(flows, "JPEGFlows", "480p"));
        var missing = Path.Combine(flows, "JPEGFlows", "480p", "blackswan", "00002.jpg");
        File.Delete(missing);
        var options = Tiny(d, $"{val.Root},flows={flows}", "run", epochs: 1, samplesPerEpoch: 2, batchSize: 2);
        var e = Assert.Throws<CmtmException>(() => new Trainer(options));
        Assert.Equal(missing, e.Subject);
        Assert.Contains($"cmtm flow --dataset davis16 --root {val.Root} --flows {flows}", e.Problem);
        Assert.False(Directory.Exists(d.File("run")));
    }
}
