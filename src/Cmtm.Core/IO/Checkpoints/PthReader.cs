using System.IO.Compression;
using System.Text;
using static TorchSharp.torch;

namespace Cmtm.IO.Checkpoints;

/// <summary>
/// Reads PyTorch zip-format checkpoints (<c>torch.save(state_dict)</c>, torch &gt;= 1.6) without executing any code:
/// data.pkl is interpreted by a restricted unpickler (allow-listed globals only) and tensor data is copied in bulk
/// from the <c>data/&lt;key&gt;</c> entries. Every size is validated against the archive before anything is allocated.
/// </summary>
public static class PthReader
{
    /// <summary>Largest accepted uncompressed size of a compressed (deflated) zip entry. torch stores entries uncompressed.</summary>
    public const long MaxCompressedEntryBytes = 512L << 20;

    /// <summary>Largest accepted data.pkl (the pickled structure, not the tensor data; a few MB even for large models).</summary>
    public const long MaxPickleBytes = 256L << 20;

    /// <summary>
    /// Most bytes of tensors materialised per byte of storage data in the archive (plus 1 MB). Views may share a storage
    /// (tied weights), but stride-0 or overlapping views must not expand a small file into gigabytes of tensors.
    /// </summary>
    public const int MaxViewExpansion = 4;

    /// <summary>Wrapper keys accepted around a state dict, in order of preference.</summary>
    public static readonly IReadOnlyList<string> WrapperKeys = new[] { "state_dict", "model", "model_state_dict", "module", "net" };

    private static readonly byte[] ZipMagic = { (byte)'P', (byte)'K', 3, 4 };

    /// <summary>Loads every tensor of the checkpoint into contiguous CPU tensors, in file order.</summary>
    public static StateDict Read(string path)
    {
        using var archive = PthArchive.Open(path);
        var layout = archive.Parse();
        var sd = new StateDict { Source = path, Wrapper = layout.Wrapper };
        try
        {
            archive.Materialize(layout, sd);
            return sd;
        }
        catch
        {
            sd.Dispose();
            throw;
        }
    }

    /// <summary>Names, shapes and dtypes of the tensors, without loading their data (storages are still size-checked).</summary>
    public static CheckpointInfo Describe(string path)
    {
        using var archive = PthArchive.Open(path);
        var layout = archive.Parse();
        return new CheckpointInfo(path, CheckpointFormat.PyTorchZip,
            layout.Tensors.Select(t => new TensorInfo(t.Key, t.Ref.Storage.DType, t.Ref.Size, t.Ref.Storage.Key)).ToList(),
            layout.Wrapper, new Dictionary<string, string>());
    }

    internal static bool HasZipMagic(ReadOnlySpan<byte> head) => head.Length >= 4 && head[..4].SequenceEqual(ZipMagic);

    internal sealed record Layout(List<(string Key, TensorRef Ref)> Tensors, string? Wrapper);

    private sealed class PthArchive : IDisposable
    {
        private readonly string _path;
        private readonly FileStream _file;
        private readonly ZipArchive _zip;
        private readonly Dictionary<string, ZipArchiveEntry> _entries = new(StringComparer.Ordinal);
        private readonly string _prefix;

        private PthArchive(string path, FileStream file, ZipArchive zip)
        {
            _path = path; _file = file; _zip = zip;
            foreach (var e in zip.Entries)
                if (!_entries.TryAdd(e.FullName, e))
                    throw Error($"duplicate zip entry '{e.FullName}'");
            var pkl = _entries.Keys.Where(n => n == "data.pkl" || (n.EndsWith("/data.pkl", StringComparison.Ordinal) && n.Count(c => c == '/') == 1)).ToList();
            if (pkl.Count == 0) throw Error("zip archive has no data.pkl: not a torch.save checkpoint");
            if (pkl.Count > 1) throw Error($"zip archive has {pkl.Count} data.pkl entries");
            _prefix = pkl[0][..^"data.pkl".Length];
        }

        private CheckpointFormatException Error(string problem, Exception? inner = null) => new(_path, problem, inner);

        public static PthArchive Open(string path)
        {
            FileStream fs;
            try { fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            { throw new CheckpointFormatException(path, "file not found", e); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            { throw new CheckpointFormatException(path, $"cannot read file ({e.Message})", e); }
            try
            {
                Span<byte> head = stackalloc byte[4];
                int n = fs.ReadAtLeast(head, 4, throwOnEndOfStream: false);
                if (n < 4 || !HasZipMagic(head))
                {
                    if (n >= 2 && head[0] == 0x80 && head[1] is >= 2 and <= 5)
                        throw new CheckpointFormatException(path, CheckpointReader.LegacyMessage);
                    throw new CheckpointFormatException(path, "not a PyTorch zip checkpoint (no zip signature)");
                }
                fs.Position = 0;
                ZipArchive zip;
                try { zip = new ZipArchive(fs, ZipArchiveMode.Read, leaveOpen: true); }
                catch (Exception e) when (e is InvalidDataException or EndOfStreamException or ArgumentException)
                { throw new CheckpointFormatException(path, $"corrupt or truncated zip archive ({e.Message})", e); }
                try { return new PthArchive(path, fs, zip); }
                catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
                {
                    // the central directory is read lazily, on the first access to Entries
                    zip.Dispose();
                    throw new CheckpointFormatException(path, $"corrupt or truncated zip archive ({e.Message})", e);
                }
                catch { zip.Dispose(); throw; }
            }
            catch
            {
                fs.Dispose();
                throw;
            }
        }

        public void Dispose()
        {
            _zip.Dispose();
            _file.Dispose();
        }

        private static bool IsCompressed(ZipArchiveEntry e) => e.CompressedLength != e.Length;

        /// <summary>Checks an entry's declared size before anything is allocated for it.</summary>
        private long CheckedLength(ZipArchiveEntry e)
        {
            long declared = e.Length;
            bool compressed = IsCompressed(e);
            if (declared < 0) throw Error($"zip entry '{e.FullName}' declares a negative size");
            if (compressed && declared > MaxCompressedEntryBytes)
                throw Error($"compressed zip entry '{e.FullName}' declares {declared} bytes uncompressed (limit {MaxCompressedEntryBytes}; torch stores entries uncompressed)");
            if (!compressed && declared > _file.Length)
                throw Error($"zip entry '{e.FullName}' declares {declared} bytes but the file has only {_file.Length}");
            return declared;
        }

        private Stream OpenEntry(ZipArchiveEntry e)
        {
            try { return e.Open(); }
            catch (Exception ex) when (ex is InvalidDataException or IOException or NotSupportedException)
            { throw Error($"zip entry '{e.FullName}' cannot be read ({ex.Message})", ex); }
        }

        private void ExpectEnd(Stream s, ZipArchiveEntry e)
        {
            if (s.ReadByte() != -1) throw Error($"zip entry '{e.FullName}' holds more data than it declares");
        }

        private byte[] ReadAllBytes(ZipArchiveEntry e)
        {
            long n = CheckedLength(e);
            if (n > Array.MaxLength) throw Error($"zip entry '{e.FullName}' is too large ({n} bytes)");
            var buf = new byte[n];
            try
            {
                using var s = OpenEntry(e);
                s.ReadExactly(buf);
                ExpectEnd(s, e);
                if (IsCompressed(e) && System.IO.Hashing.Crc32.HashToUInt32(buf) != e.Crc32)
                    throw Error($"zip entry '{e.FullName}' fails its CRC check (corrupt, or its declared size is wrong)");
            }
            catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException or IOException)
            { throw Error($"zip entry '{e.FullName}' is corrupt or truncated ({ex.Message})", ex); }
            return buf;
        }

        private void ReadInto(ZipArchiveEntry e, Tensor target, long bytes)
        {
            try
            {
                using var s = OpenEntry(e);
                DTypes.ReadInto(s, target, bytes);
                ExpectEnd(s, e);
                // .NET silently stops an inflating stream at the declared size: a CRC check catches a lying header.
                if (IsCompressed(e) && bytes > 0 && System.IO.Hashing.Crc32.HashToUInt32(target.bytes) != e.Crc32)
                    throw Error($"zip entry '{e.FullName}' fails its CRC check (corrupt, or its declared size is wrong)");
            }
            catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException or IOException)
            { throw Error($"zip entry '{e.FullName}' is corrupt or truncated ({ex.Message})", ex); }
        }

        public Layout Parse()
        {
            if (_entries.TryGetValue(_prefix + "byteorder", out var bo))
            {
                var order = Encoding.ASCII.GetString(ReadSmall(bo)).Trim();
                if (order != "little") throw Error($"byte order '{order}' is not supported (only little-endian checkpoints)");
            }
            var pklEntry = _entries[_prefix + "data.pkl"];
            if (CheckedLength(pklEntry) > MaxPickleBytes)
                throw Error($"data.pkl declares {pklEntry.Length} bytes (limit {MaxPickleBytes})");
            var pkl = ReadAllBytes(pklEntry);
            var storages = new Dictionary<string, StorageRef>(StringComparer.Ordinal);
            var top = Unpickler.Load(pkl, _path, "data.pkl", pid => PersistentLoad(pid, storages));
            var (dict, wrapper) = SelectStateDict(top);
            var tensors = new List<(string, TensorRef)>(dict.Entries.Count);
            foreach (var (k, v) in dict.Entries)
            {
                var key = (string)k!;
                var r = (TensorRef)v!;
                CheckExtent(key, r);
                tensors.Add((key, r));
            }
            CheckExpansion(tensors, storages);
            return new Layout(tensors, wrapper);
        }

        private byte[] ReadSmall(ZipArchiveEntry e)
        {
            if (CheckedLength(e) > 4096) throw Error($"zip entry '{e.FullName}' is unexpectedly large");
            return ReadAllBytes(e);
        }

        private StorageRef PersistentLoad(PyTuple pid, Dictionary<string, StorageRef> storages)
        {
            if (pid.Count != 5 || pid[0] is not "storage")
                throw Error("unsupported persistent id in data.pkl (expected ('storage', type, key, location, numel))");
            if (pid[1] is not PyGlobal g || !Unpickler.IsStorageGlobal(g))
                throw Error($"persistent id names a {Unpickler.TypeName(pid[1])}, not a storage type, in data.pkl");
            if (pid[2] is not string key || key.Length == 0 || key.Length > 256)
                throw Error("storage key in data.pkl is not a short string");
            if (pid[3] is not string location) throw Error($"storage '{key}' location is not a string in data.pkl");
            if (pid[4] is not long numel || numel < 0) throw Error($"storage '{key}' has an invalid element count in data.pkl");
            var dtype = Unpickler.StorageDType(g);
            if (storages.TryGetValue(key, out var known))
            {
                if (known.DType != dtype || known.Numel != numel)
                    throw Error($"storage '{key}' is declared twice with different types/sizes in data.pkl");
                return known;
            }
            var name = _prefix + "data/" + key;
            if (!_entries.TryGetValue(name, out var entry)) throw Error($"storage entry 'data/{key}' is missing from the archive");
            long es = DTypes.ElementSize(dtype);
            long need;
            try { need = checked(numel * es); }
            catch (OverflowException) { throw Error($"storage 'data/{key}' declares an absurd size ({numel} elements)"); }
            long have = CheckedLength(entry);
            if (have != need)
                throw Error($"storage 'data/{key}' holds {have} bytes but data.pkl declares {numel} x {DTypes.TorchName(dtype)} = {need} bytes");
            var s = new StorageRef(key, dtype, g.Name, location, numel);
            storages[key] = s;
            return s;
        }

        private void CheckExtent(string key, TensorRef r)
        {
            long numel = r.Numel;
            long end; // one past the last element used
            try
            {
                if (numel == 0) end = r.Offset;
                else
                {
                    long last = r.Offset;
                    for (int d = 0; d < r.Size.Length; d++) last = checked(last + checked((r.Size[d] - 1) * r.Stride[d]));
                    end = checked(last + 1);
                }
            }
            catch (OverflowException) { end = long.MaxValue; }
            if (end > r.Storage.Numel)
                throw Error($"tensor '{key}' {DTypes.ShapeText(r.Size)} (offset {r.Offset}, stride {DTypes.ShapeText(r.Stride)}) needs {end} elements but its storage 'data/{r.Storage.Key}' has only {r.Storage.Numel}");
        }

        /// <summary>Bounds what materialising the tensors allocates by the storage data actually in the file.</summary>
        private void CheckExpansion(List<(string Key, TensorRef Ref)> tensors, Dictionary<string, StorageRef> storages)
        {
            long storageBytes = 0, tensorBytes = 0;
            foreach (var s in storages.Values) storageBytes += s.Numel * DTypes.ElementSize(s.DType); // each equals its entry's length
            long limit = MaxViewExpansion * storageBytes + (1L << 20);
            foreach (var (key, r) in tensors)
            {
                try { tensorBytes = checked(tensorBytes + checked(r.Numel * DTypes.ElementSize(r.Storage.DType))); }
                catch (OverflowException) { tensorBytes = long.MaxValue; }
                if (tensorBytes > limit)
                    throw Error($"tensor '{key}' {DTypes.ShapeText(r.Size)} (stride {DTypes.ShapeText(r.Stride)}) brings the tensors to more than {limit} bytes from {storageBytes} bytes of storage data; stride-0 or overlapping views that expand the file more than {MaxViewExpansion}x are not supported");
            }
        }

        private (PyDict Dict, string? Wrapper) SelectStateDict(object? top)
        {
            if (top is not PyDict d) throw Error($"data.pkl holds a {Unpickler.TypeName(top)}, not a state dict");
            if (IsTensorDict(d)) return (d, null);
            foreach (var w in WrapperKeys)
                if (d.TryGet(w, out var inner) && inner is PyDict id && IsTensorDict(id))
                    return (id, w);
            var bad = d.Entries.FirstOrDefault(kv => kv.Key is not string || kv.Value is not TensorRef);
            var what = bad.Key is string s ? $"entry '{s}' is a {Unpickler.TypeName(bad.Value)}" : $"a key is a {Unpickler.TypeName(bad.Key)}";
            throw Error($"data.pkl is not a state dict: {what}, and there is no '{string.Join("'/'", WrapperKeys)}' entry holding one");
        }

        private static bool IsTensorDict(PyDict d) => d.Entries.All(kv => kv.Key is string && kv.Value is TensorRef);

        public void Materialize(Layout layout, StateDict into)
        {
            var uses = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var (_, r) in layout.Tensors) uses[r.Storage.Key] = uses.GetValueOrDefault(r.Storage.Key) + 1;
            var cache = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            try
            {
                foreach (var (key, r) in layout.Tensors)
                {
                    var st = r.Storage;
                    long es = DTypes.ElementSize(st.DType);
                    var entry = _entries[_prefix + "data/" + st.Key];
                    Tensor t;
                    if (uses[st.Key] == 1 && r.Offset == 0 && r.IsContiguous && r.Numel == st.Numel)
                    {
                        // Common case: the tensor is its whole storage - stream the bytes straight into it.
                        t = empty(r.Size, dtype: st.DType);
                        try { ReadInto(entry, t, st.Numel * es); }
                        catch { t.Dispose(); throw; }
                    }
                    else
                    {
                        if (!cache.TryGetValue(st.Key, out var storage))
                        {
                            storage = empty(st.Numel, dtype: st.DType);
                            cache[st.Key] = storage;
                            ReadInto(entry, storage, st.Numel * es);
                        }
                        t = empty(r.Size, dtype: st.DType);
                        using var view = storage.as_strided(r.Size, r.Stride, r.Offset);
                        t.copy_(view);
                    }
                    into.Add(key, t);
                }
            }
            finally
            {
                foreach (var s in cache.Values) s.Dispose();
            }
        }
    }
}
