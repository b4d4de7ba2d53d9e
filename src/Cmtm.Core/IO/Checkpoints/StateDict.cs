using static TorchSharp.torch;

namespace Cmtm.IO.Checkpoints;

/// <summary>
/// An ordered name -> tensor map, as a PyTorch state dict. Owns its tensors: disposing the StateDict
/// disposes them. Keys keep file order.
/// </summary>
public sealed class StateDict : IDisposable
{
    private readonly List<string> _order = new();
    private readonly Dictionary<string, Tensor> _map = new(StringComparer.Ordinal);

    /// <summary>Where it came from (a file path), for error messages.</summary>
    public string Source { get; init; } = "<memory>";

    /// <summary>
    /// If the file wrapped the tensors in a larger dict (e.g. <c>{"state_dict": ..., "epoch": 3}</c>), the key they
    /// were taken from; null for a plain state dict.
    /// </summary>
    public string? Wrapper { get; init; }

    /// <summary>String metadata carried by the file (safetensors <c>__metadata__</c>); empty otherwise.</summary>
    public Dictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal);

    public int Count => _order.Count;
    public IReadOnlyList<string> Keys => _order;
    public IEnumerable<(string Key, Tensor Value)> Items => _order.Select(k => (k, _map[k]));

    public Tensor this[string key] =>
        _map.TryGetValue(key, out var t) ? t : throw new CmtmException(Source, $"key '{key}' not found");

    public bool ContainsKey(string key) => _map.ContainsKey(key);
    public bool TryGet(string key, out Tensor value) => _map.TryGetValue(key, out value!);

    /// <summary>Adds (or replaces, keeping the original position) an entry; the dict takes ownership.</summary>
    public void Add(string key, Tensor value)
    {
        if (_map.TryGetValue(key, out var old)) { if (!ReferenceEquals(old, value)) old.Dispose(); }
        else _order.Add(key);
        _map[key] = value;
    }

    /// <summary>Removes an entry and returns its tensor (ownership passes to the caller).</summary>
    public Tensor? Remove(string key)
    {
        if (!_map.Remove(key, out var t)) return null;
        _order.Remove(key);
        return t;
    }

    public long ParameterCount(Func<string, bool>? include = null) =>
        Items.Where(kv => include?.Invoke(kv.Key) ?? true).Sum(kv => kv.Value.numel());

    public void Dispose()
    {
        foreach (var t in _map.Values) t.Dispose();
        _map.Clear();
        _order.Clear();
    }
}
