using System.Collections.Concurrent;
using System.Text.Json;
using System.Threading.Channels;

namespace Cmtm.Serving;

/// <summary>Server-sent events: every subscriber (an open /api/events response) gets every published event.</summary>
public sealed class EventHub
{
    private readonly ConcurrentDictionary<Guid, Channel<string>> subscribers = new();

    /// <summary>JSON as the page reads it (camelCase).</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Sends <c>event: NAME</c> with <paramref name="data"/> as JSON to every subscriber.</summary>
    public void Publish(string name, object data)
    {
        var text = $"event: {name}\ndata: {JsonSerializer.Serialize(data, Json)}\n\n";
        foreach (var ch in subscribers.Values) ch.Writer.TryWrite(text);
    }

    /// <summary>
    /// Writes events to <paramref name="output"/> until <paramref name="cancel"/>; <paramref name="first"/> (a snapshot)
    /// is made after this subscriber is registered and sent first, so no event falls between the snapshot and the stream.
    /// </summary>
    public async Task StreamAsync(Stream output, Func<string> first, CancellationToken cancel)
    {
        var id = Guid.NewGuid();
        var ch = Channel.CreateBounded<string>(new BoundedChannelOptions(1000) { FullMode = BoundedChannelFullMode.DropOldest });
        subscribers[id] = ch;
        try
        {
            await WriteAsync(output, first(), cancel);
            while (!cancel.IsCancellationRequested)
            {
                using var beat = CancellationTokenSource.CreateLinkedTokenSource(cancel);
                beat.CancelAfter(TimeSpan.FromSeconds(15));
                string text;
                try { text = await ch.Reader.ReadAsync(beat.Token); }
                catch (OperationCanceledException) when (!cancel.IsCancellationRequested) { text = ": keep-alive\n\n"; }
                await WriteAsync(output, text, cancel);
            }
        }
        catch (OperationCanceledException) { }
        catch (IOException) { } // the page went away
        finally { subscribers.TryRemove(id, out _); }
    }

    private static async Task WriteAsync(Stream output, string text, CancellationToken cancel)
    {
        await output.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text), cancel);
        await output.FlushAsync(cancel);
    }
}
