using Cmtm.Inference;

namespace Cmtm.Tests.Inference;

/// <summary>The read-ahead of `cmtm segment`: order, overlap, errors after the items before them, early stop.</summary>
public class PrefetchTests
{
    [Fact]
    public void KeepsOrderAndProducesAheadOfTheConsumer()
    {
        var producedBefore = new List<int>();
        int produced = 0;
        IEnumerable<int> Source() { for (int i = 0; i < 20; i++) { Interlocked.Increment(ref produced); yield return i; } }
        var seen = new List<int>();
        foreach (var x in Prefetch.Ahead(Source(), depth: 2))
        {
            // give the producer time to run ahead, then record how far it got
            SpinWait.SpinUntil(() => Volatile.Read(ref produced) >= Math.Min(20, x + 3), TimeSpan.FromSeconds(5));
            producedBefore.Add(Volatile.Read(ref produced));
            seen.Add(x);
        }
        Assert.Equal(Enumerable.Range(0, 20), seen);
        Assert.Contains(producedBefore, n => n >= 3); // the first item was consumed while later ones were already produced
    }

    [Fact]
    public void AnErrorArrivesAfterTheItemsBeforeItWithItsType()
    {
        IEnumerable<int> Source() { yield return 1; yield return 2; throw new CmtmException("frames/00003.jpg", "cannot decode"); }
        var seen = new List<int>();
        var e = Assert.Throws<CmtmException>(() => { foreach (var x in Prefetch.Ahead(Source())) seen.Add(x); });
        Assert.Equal(new[] { 1, 2 }, seen);
        Assert.Equal("frames/00003.jpg: cannot decode", e.Message);
    }

    [Fact]
    public void StoppingEarlyStopsAndDisposesTheProducer()
    {
        int produced = 0;
        bool disposed = false;
        IEnumerable<int> Source()
        {
            try { for (int i = 0; i < 1_000_000; i++) { Interlocked.Increment(ref produced); yield return i; } }
            finally { disposed = true; }
        }
        foreach (var x in Prefetch.Ahead(Source()))
            if (x == 3) break;
        Assert.True(disposed, "the source's enumerator was not disposed when the consumer stopped");
        Assert.InRange(produced, 4, 8); // at most depth + 2 beyond what was consumed
    }
}
