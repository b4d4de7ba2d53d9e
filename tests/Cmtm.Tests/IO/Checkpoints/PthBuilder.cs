using System.IO.Compression;
using System.Text;

namespace Cmtm.Tests.IO.Checkpoints;

/// <summary>Emits pickle opcodes by hand (protocol 2, as torch.save does) so tests can build valid and hostile files.</summary>
internal sealed class PickleBuilder
{
    private readonly MemoryStream _s = new();

    public PickleBuilder Raw(params byte[] b) { _s.Write(b); return this; }
    public PickleBuilder Proto(int p = 2) => Raw(0x80, (byte)p);
    public PickleBuilder Global(string module, string name) =>
        Raw((byte)'c').Raw(Encoding.ASCII.GetBytes(module + "\n" + name + "\n"));
    public PickleBuilder StackGlobal(string module, string name) => Str(module).Str(name).Raw(0x93);
    public PickleBuilder Str(string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        Raw((byte)'X').Raw(BitConverter.GetBytes((uint)b.Length));
        return Raw(b);
    }
    public PickleBuilder Int(long v)
    {
        if (v is >= 0 and < 256) return Raw((byte)'K', (byte)v);
        if (v is >= int.MinValue and <= int.MaxValue) return Raw((byte)'J').Raw(BitConverter.GetBytes((int)v));
        return Raw(0x8a, 8).Raw(BitConverter.GetBytes(v)); // LONG1
    }
    public PickleBuilder Mark() => Raw((byte)'(');
    public PickleBuilder Tuple() => Raw((byte)'t');
    public PickleBuilder EmptyTuple() => Raw((byte)')');
    public PickleBuilder EmptyDict() => Raw((byte)'}');
    public PickleBuilder Reduce() => Raw((byte)'R');
    public PickleBuilder False() => Raw(0x89);
    public PickleBuilder SetItem() => Raw((byte)'s');
    public PickleBuilder Stop() => Raw((byte)'.');
    public PickleBuilder IntTuple(IEnumerable<long> xs) { Mark(); foreach (var x in xs) Int(x); return Tuple(); }
    public PickleBuilder OrderedDict() => Global("collections", "OrderedDict").EmptyTuple().Reduce();

    /// <summary>torch._utils._rebuild_tensor_v2((('storage', torch.XStorage, key, 'cpu', numel)), offset, size, stride, False, OrderedDict())</summary>
    public PickleBuilder Tensor(string storageType, string key, long numel, long offset, long[] size, long[] stride)
    {
        Global("torch._utils", "_rebuild_tensor_v2");
        Mark();
        Mark().Str("storage").Global("torch", storageType).Str(key).Str("cpu").Int(numel).Tuple().Raw((byte)'Q');
        Int(offset).IntTuple(size).IntTuple(stride).False().OrderedDict();
        Tuple();
        return Reduce();
    }

    public byte[] Bytes() => _s.ToArray();
}

internal sealed record TensorSpec(string Key, string StorageType, string StorageKey, long StorageNumel, long Offset, long[] Size, long[] Stride);

internal static class PthBuilder
{
    /// <summary>A state dict pickle (OrderedDict of tensors) as torch.save writes it, optionally inside {wrapper: sd, "epoch": 3}.</summary>
    public static byte[] StateDictPickle(IEnumerable<TensorSpec> tensors, string? wrapper = null)
    {
        var p = new PickleBuilder().Proto();
        if (wrapper != null) p.EmptyDict().Str("epoch").Int(3).SetItem().Str(wrapper);
        p.OrderedDict();
        foreach (var t in tensors)
            p.Str(t.Key).Tensor(t.StorageType, t.StorageKey, t.StorageNumel, t.Offset, t.Size, t.Stride).SetItem();
        if (wrapper != null) p.SetItem();
        return p.Stop().Bytes();
    }

    /// <summary>Writes a torch-style zip: archive/data.pkl, archive/data/&lt;key&gt;, archive/version.</summary>
    public static void WriteZip(string path, byte[] pickle, IReadOnlyDictionary<string, byte[]> storages,
        CompressionLevel level = CompressionLevel.NoCompression, string archive = "archive")
    {
        using var fs = File.Create(path);
        using var zip = new ZipArchive(fs, ZipArchiveMode.Create);
        void Add(string name, byte[] data)
        {
            var e = zip.CreateEntry($"{archive}/{name}", level);
            using var s = e.Open();
            s.Write(data);
        }
        Add("data.pkl", pickle);
        foreach (var (k, b) in storages) Add("data/" + k, b);
        Add("version", Encoding.ASCII.GetBytes("3\n"));
    }

    /// <summary>A zip whose data.pkl is just the given pickle (no storages).</summary>
    public static void WritePickleOnly(string path, byte[] pickle) => WriteZip(path, pickle, new Dictionary<string, byte[]>());
}
