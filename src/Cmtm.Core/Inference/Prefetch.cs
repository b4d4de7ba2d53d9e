using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace Cmtm.Inference;

/// <summary>
/// Enumerates a sequence on a background thread, <c>depth</c> items ahead of the consumer: `cmtm segment` decodes the
/// next frame and computes its flow while the model runs on the current one. Order is kept; an exception of the source
/// reaches the consumer after the items produced before it, with its original type and stack; when the consumer stops
/// early (an error, a cancellation) the producer is stopped and its enumerator disposed before this returns.
/// </summary>
public static class Prefetch
{
    public static IEnumerable<T> Ahead<T>(IEnumerable<T> source, int depth = 1)
    {
        if (depth < 1) throw new ArgumentOutOfRangeException(nameof(depth));
        using var queue = new BlockingCollection<T>(depth);
        using var stop = new CancellationTokenSource();
        Exception? failure = null;
        var producer = Task.Factory.StartNew(() =>
        {
            try
            {
                foreach (var item in source) queue.Add(item, stop.Token);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
            catch (Exception e) { failure = e; } // the task itself never faults: its error is handed to the consumer
            finally { queue.CompleteAdding(); }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            foreach (var item in queue.GetConsumingEnumerable()) yield return item;
            // set before CompleteAdding, so visible once the queue is drained
            if (failure != null) ExceptionDispatchInfo.Capture(failure).Throw();
        }
        finally
        {
            stop.Cancel();
            producer.Wait(); // the source's enumerator is disposed (on the producer thread) before this returns
        }
    }
}
