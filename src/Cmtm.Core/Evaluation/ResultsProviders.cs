using Cmtm.Data.Datasets;
using Cmtm.IO;

namespace Cmtm.Evaluation;

/// <summary>
/// Supplies the predicted binary mask of an annotated frame. <see cref="ResultsFolder"/> reads PNGs written by
/// any method; a model-driven provider (run the network, keep or write the masks) plugs in the same way.
/// Implementations must be thread-safe: <see cref="Evaluator"/> calls <see cref="Load"/> from several threads.
/// </summary>
public interface IResultsProvider
{
    /// <summary>A short description for reports (e.g. the folder path).</summary>
    string Description { get; }

    /// <summary>Checks up front that every needed result exists, throwing a <see cref="CmtmException"/> naming the first missing one.</summary>
    void Validate(DatasetRecord dataset);

    /// <summary>
    /// The predicted mask of <paramref name="frame"/>; it must have the size of <paramref name="groundTruth"/>
    /// (a <see cref="CmtmException"/> naming the result otherwise).
    /// </summary>
    BinaryMask Load(SequenceRecord sequence, FrameRecord frame, BinaryMask groundTruth);

    /// <summary>
    /// As <see cref="Load(SequenceRecord, FrameRecord, BinaryMask)"/>, but may overwrite and return
    /// <paramref name="reuse"/> (a mask from an earlier call on the same thread that the caller no longer needs).
    /// </summary>
    BinaryMask Load(SequenceRecord sequence, FrameRecord frame, BinaryMask groundTruth, BinaryMask? reuse) => Load(sequence, frame, groundTruth);
}

/// <summary>
/// A results folder <c>&lt;results&gt;/&lt;sequence&gt;/&lt;annotation file stem&gt;.png</c> (for DAVIS
/// <c>%05d.png</c>; for YouTube-Objects <c>&lt;results&gt;/&lt;class&gt;/&lt;video&gt;/...</c>), as the official code
/// writes them. Any PNG encoding is accepted (0/255 grayscale, palette indices, ...); any nonzero value is
/// foreground. A missing or differently sized result frame is an error naming the file.
/// </summary>
public sealed class ResultsFolder : IResultsProvider
{
    public string Root { get; }

    public ResultsFolder(string root)
    {
        if (!Directory.Exists(root)) throw new CmtmException(root, "results folder not found");
        Root = root;
    }

    public string Description => Root;

    public string PathOf(SequenceRecord sequence, FrameRecord frame)
    {
        var stem = frame.Annotation != null ? Path.GetFileNameWithoutExtension(frame.Annotation) : frame.Name;
        return Path.Combine([Root, .. sequence.Name.Split('/'), stem + ".png"]);
    }

    public void Validate(DatasetRecord dataset)
    {
        foreach (var seq in dataset.Sequences)
        {
            var dir = Path.Combine([Root, .. seq.Name.Split('/')]);
            if (!Directory.Exists(dir))
                throw new CmtmException(dir, $"missing results folder of sequence '{seq.Name}'");
            foreach (var frame in seq.Frames)
            {
                if (frame.Annotation == null) continue;
                var p = PathOf(seq, frame);
                if (!File.Exists(p)) throw new CmtmException(p, $"missing result frame {frame.Name} of sequence '{seq.Name}'");
            }
        }
    }

    public BinaryMask Load(SequenceRecord sequence, FrameRecord frame, BinaryMask groundTruth) => Load(sequence, frame, groundTruth, null);

    public BinaryMask Load(SequenceRecord sequence, FrameRecord frame, BinaryMask groundTruth, BinaryMask? reuse)
    {
        var p = PathOf(sequence, frame);
        if (!File.Exists(p)) throw new CmtmException(p, $"missing result frame {frame.Name} of sequence '{sequence.Name}'");
        var m = PngMask.Read(p, MaskRule.Nonzero, reuse);
        if (m.Width != groundTruth.Width || m.Height != groundTruth.Height)
        {
            var hint = m.Width == 512 && m.Height == 512
                ? " (the official run.py writes FBMS / YouTube-Objects / Long-Videos results at its 512x512 model resolution; CMTM.NET scores at the annotation's resolution, so resize the results to the annotation size first)"
                : "";
            throw new CmtmException(p, $"result is {m.SizeText} but the annotation {frame.Annotation} is {groundTruth.SizeText}{hint}");
        }
        return m;
    }
}

/// <summary>
/// Results computed on the fly (e.g. by running a model): <c>predict(sequence, frame, groundTruth)</c> returns the
/// mask of an annotated frame at the ground truth's size. Must be thread-safe, or evaluate with MaxParallelism 1.
/// </summary>
public sealed class DelegateResultsProvider(string description, Func<SequenceRecord, FrameRecord, BinaryMask, BinaryMask> predict) : IResultsProvider
{
    public string Description => description;

    public void Validate(DatasetRecord dataset) { }

    public BinaryMask Load(SequenceRecord sequence, FrameRecord frame, BinaryMask groundTruth)
    {
        var m = predict(sequence, frame, groundTruth);
        if (m.Width != groundTruth.Width || m.Height != groundTruth.Height)
            throw new CmtmException($"{description}/{sequence.Name}/{frame.Name}", $"predicted mask is {m.SizeText} but the annotation is {groundTruth.SizeText}");
        return m;
    }
}
