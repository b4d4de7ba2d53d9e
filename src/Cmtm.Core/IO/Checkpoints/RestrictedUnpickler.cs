using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using static TorchSharp.torch;

namespace Cmtm.IO.Checkpoints;

// Object model of the values a restricted unpickle can produce. Nothing here is executable: a "global" is
// only a name from the allow-list, and "calling" one (REDUCE) is interpreted by the unpickler itself.

internal sealed record PyGlobal(string Module, string Name)
{
    public string FullName => $"{Module}.{Name}";
    public override string ToString() => FullName;
}

internal sealed class PyTuple(object?[] items)
{
    public object?[] Items { get; } = items;
    public int Count => Items.Length;
    public object? this[int i] => Items[i];
}

internal sealed class PyList
{
    public List<object?> Items { get; } = new();
}

internal sealed class PySet
{
    public List<object?> Items { get; } = new();
}

/// <summary>An insertion-ordered dict (plain dict or collections.OrderedDict).</summary>
internal sealed class PyDict
{
    private readonly Dictionary<object, int> _index = new(KeyComparer.Instance);
    private static readonly object NoneKey = new();

    public List<KeyValuePair<object?, object?>> Entries { get; } = new();
    public bool IsOrderedDict { get; init; }
    /// <summary>State given by BUILD (e.g. torch's state_dict '_metadata'); kept, never interpreted.</summary>
    public object? BuildState { get; set; }

    public void Set(object? key, object? value, Func<string, Exception> error)
    {
        var k = key ?? NoneKey;
        if (!KeyComparer.IsHashable(k)) throw error($"unhashable dict key of type {Unpickler.TypeName(key)}");
        if (_index.TryGetValue(k, out var i)) Entries[i] = new(key, value);
        else { _index[k] = Entries.Count; Entries.Add(new(key, value)); }
    }

    public bool TryGet(string key, out object? value)
    {
        if (_index.TryGetValue(key, out var i)) { value = Entries[i].Value; return true; }
        value = null;
        return false;
    }

    private sealed class KeyComparer : IEqualityComparer<object>
    {
        public static readonly KeyComparer Instance = new();

        public static bool IsHashable(object k) =>
            k is string or long or double or bool or BigInteger || ReferenceEquals(k, NoneKey)
            || (k is PyTuple t && t.Items.All(x => x is null || IsHashable(x))) || k is PyGlobal;

        public new bool Equals(object? a, object? b)
        {
            if (a is PyTuple ta && b is PyTuple tb)
                return ta.Count == tb.Count && ta.Items.Zip(tb.Items).All(p => p.First is null ? p.Second is null : p.Second is not null && Equals(p.First, p.Second));
            return object.Equals(a, b);
        }

        public int GetHashCode(object o) => o is PyTuple t
            ? t.Items.Aggregate(17, (h, x) => h * 31 + (x is null ? 0 : GetHashCode(x)))
            : o.GetHashCode();
    }
}

/// <summary>A storage named by a persistent id ('storage', storage_type, key, location, numel).</summary>
internal sealed record StorageRef(string Key, ScalarType DType, string StorageType, string Location, long Numel);

/// <summary>A tensor view of a storage, as described by torch._utils._rebuild_tensor(_v2); not yet loaded.</summary>
internal sealed record TensorRef(StorageRef Storage, long Offset, long[] Size, long[] Stride)
{
    public long Numel => DTypes.Numel(Size) ?? throw new InvalidOperationException();
    public bool IsContiguous
    {
        get
        {
            long expected = 1;
            for (int d = Size.Length - 1; d >= 0; d--)
            {
                if (Size[d] != 1 && Stride[d] != expected) return false;
                expected *= Size[d];
            }
            return true;
        }
    }
}

/// <summary>
/// A pickle interpreter for what torch.save writes (protocols 2-5), which never executes code: every GLOBAL is
/// checked against a small allow-list and rejected by name otherwise; REDUCE/BUILD are interpreted for the
/// allowed callables only. All lengths are checked against the remaining input before anything is allocated;
/// stack, mark and nesting depths are bounded.
/// </summary>
internal sealed class Unpickler
{
    public const int MaxStack = 1 << 22;
    public const int MaxMarkDepth = 10_000;
    public const int MaxMemo = 1 << 24;

    private static readonly Dictionary<string, ScalarType> StorageTypes = new()
    {
        ["FloatStorage"] = ScalarType.Float32,
        ["DoubleStorage"] = ScalarType.Float64,
        ["HalfStorage"] = ScalarType.Float16,
        ["BFloat16Storage"] = ScalarType.BFloat16,
        ["LongStorage"] = ScalarType.Int64,
        ["IntStorage"] = ScalarType.Int32,
        ["ShortStorage"] = ScalarType.Int16,
        ["CharStorage"] = ScalarType.Int8,
        ["ByteStorage"] = ScalarType.Byte,
        ["BoolStorage"] = ScalarType.Bool,
    };

    private static readonly HashSet<string> AllowedCallables = new()
    {
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
    };

    private readonly byte[] _data;
    private readonly string _file;
    private readonly string _entry;
    private readonly Func<PyTuple, object?>? _persistentLoad;
    private readonly List<object?> _stack = new();
    private readonly List<int> _marks = new();
    private readonly Dictionary<long, object?> _memo = new();
    private int _pos;
    private int _opStart;

    private Unpickler(byte[] data, string file, string entry, Func<PyTuple, object?>? persistentLoad)
    {
        _data = data; _file = file; _entry = entry; _persistentLoad = persistentLoad;
    }

    /// <summary>Unpickles <paramref name="data"/>; <paramref name="file"/>/<paramref name="entry"/> name it in errors.</summary>
    public static object? Load(byte[] data, string file, string entry, Func<PyTuple, object?>? persistentLoad) =>
        new Unpickler(data, file, entry, persistentLoad).Run();

    public static bool IsStorageGlobal(PyGlobal g) => g.Module == "torch" && StorageTypes.ContainsKey(g.Name);
    public static ScalarType StorageDType(PyGlobal g) => StorageTypes[g.Name];

    internal static string TypeName(object? o) => o switch
    {
        null => "None",
        string => "str",
        long or BigInteger => "int",
        double => "float",
        bool => "bool",
        byte[] => "bytes",
        PyTuple => "tuple",
        PyList => "list",
        PyDict d => d.IsOrderedDict ? "OrderedDict" : "dict",
        PySet => "set",
        PyGlobal g => g.FullName,
        StorageRef s => $"torch.{s.StorageType}",
        TensorRef => "Tensor",
        _ => o.GetType().Name,
    };

    private CheckpointFormatException Error(string problem) =>
        new(_file, $"{problem} in {_entry}");

    private CheckpointFormatException ErrorAt(string problem) =>
        new(_file, $"{problem} at offset {_opStart} of {_entry}");

    // ---- input primitives (bounds-checked) ----

    private ReadOnlySpan<byte> Take(long n)
    {
        if (n < 0 || n > _data.Length - _pos)
            throw ErrorAt($"truncated pickle: opcode needs {n} bytes, {_data.Length - _pos} left");
        var s = _data.AsSpan(_pos, (int)n);
        _pos += (int)n;
        return s;
    }

    private byte U8() => Take(1)[0];
    private ushort U16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));
    private uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
    private int I32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));
    private ulong U64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

    private string Line()
    {
        int end = Array.IndexOf(_data, (byte)'\n', _pos);
        if (end < 0) throw ErrorAt("truncated pickle: missing newline");
        if (end - _pos > 1000) throw ErrorAt("GLOBAL name longer than 1000 bytes");
        var s = Encoding.UTF8.GetString(_data, _pos, end - _pos);
        _pos = end + 1;
        return s;
    }

    private string Utf8(long n)
    {
        var bytes = Take(n);
        try { return new UTF8Encoding(false, true).GetString(bytes); }
        catch (DecoderFallbackException) { throw ErrorAt("invalid UTF-8 in a string"); }
    }

    // ---- stack ----

    private void Push(object? o)
    {
        if (_stack.Count >= MaxStack) throw ErrorAt($"pickle stack exceeds {MaxStack} items");
        _stack.Add(o);
    }

    private object? Pop()
    {
        int floor = _marks.Count > 0 ? _marks[^1] : 0;
        if (_stack.Count <= floor) throw ErrorAt("pickle stack underflow");
        var o = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return o;
    }

    private object? Top()
    {
        int floor = _marks.Count > 0 ? _marks[^1] : 0;
        if (_stack.Count <= floor) throw ErrorAt("pickle stack underflow");
        return _stack[^1];
    }

    private List<object?> PopMark()
    {
        if (_marks.Count == 0) throw ErrorAt("MARK expected but not found");
        int m = _marks[^1];
        _marks.RemoveAt(_marks.Count - 1);
        var items = _stack.GetRange(m, _stack.Count - m);
        _stack.RemoveRange(m, _stack.Count - m);
        return items;
    }

    private object? MemoGet(long idx) =>
        _memo.TryGetValue(idx, out var o) ? o : throw ErrorAt($"memo key {idx} not defined");

    private void MemoPut(long idx)
    {
        if (_memo.Count >= MaxMemo && !_memo.ContainsKey(idx)) throw ErrorAt($"pickle memo exceeds {MaxMemo} entries");
        _memo[idx] = Top();
    }

    // ---- main loop ----

    private object? Run()
    {
        while (true)
        {
            _opStart = _pos;
            if (_pos >= _data.Length) throw Error("truncated pickle: no STOP opcode");
            byte op = _data[_pos++];
            switch (op)
            {
                case 0x80: // PROTO
                    {
                        int proto = U8();
                        if (proto > 5) throw ErrorAt($"unsupported pickle protocol {proto}");
                        break;
                    }
                case 0x95: // FRAME (a hint only)
                    {
                        ulong len = U64();
                        if (len > (ulong)(_data.Length - _pos)) throw ErrorAt($"FRAME of {len} bytes exceeds the remaining data");
                        break;
                    }
                case (byte)'.': // STOP
                    {
                        if (_marks.Count != 0) throw ErrorAt("STOP with an open MARK");
                        if (_stack.Count != 1) throw ErrorAt($"STOP with {_stack.Count} items on the stack (expected 1)");
                        return _stack[0];
                    }
                case (byte)'(': // MARK
                    if (_marks.Count >= MaxMarkDepth) throw ErrorAt($"nesting deeper than {MaxMarkDepth}");
                    _marks.Add(_stack.Count);
                    break;
                case (byte)'0': Pop(); break; // POP
                case (byte)'1': PopMark(); break; // POP_MARK
                case (byte)'2': Push(Top()); break; // DUP

                case (byte)'}': Push(new PyDict()); break; // EMPTY_DICT
                case (byte)']': Push(new PyList()); break; // EMPTY_LIST
                case (byte)')': Push(new PyTuple(Array.Empty<object?>())); break; // EMPTY_TUPLE
                case 0x8f: Push(new PySet()); break; // EMPTY_SET
                case (byte)'t': Push(new PyTuple(PopMark().ToArray())); break; // TUPLE
                case 0x85: { var a = Pop(); Push(new PyTuple(new[] { a })); break; } // TUPLE1
                case 0x86: { var b = Pop(); var a = Pop(); Push(new PyTuple(new[] { a, b })); break; } // TUPLE2
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); Push(new PyTuple(new[] { a, b, c })); break; } // TUPLE3
                case (byte)'l': { var l = new PyList(); l.Items.AddRange(PopMark()); Push(l); break; } // LIST
                case (byte)'d': // DICT
                    {
                        var items = PopMark();
                        if (items.Count % 2 != 0) throw ErrorAt("DICT with an odd number of items");
                        var d = new PyDict();
                        for (int i = 0; i < items.Count; i += 2) d.Set(items[i], items[i + 1], ErrorAt);
                        Push(d);
                        break;
                    }
                case 0x91: { var s = new PySet(); s.Items.AddRange(PopMark()); Push(s); break; } // FROZENSET

                case (byte)'N': Push(null); break; // NONE
                case 0x88: Push(true); break; // NEWTRUE
                case 0x89: Push(false); break; // NEWFALSE
                case (byte)'J': Push((long)I32()); break; // BININT
                case (byte)'K': Push((long)U8()); break; // BININT1
                case (byte)'M': Push((long)U16()); break; // BININT2
                case 0x8a: Push(Long(U8())); break; // LONG1
                case 0x8b: // LONG4
                    {
                        int n = I32();
                        if (n < 0 || n > 64) throw ErrorAt($"LONG4 of {n} bytes (integers above 512 bits are not accepted)");
                        Push(Long(n));
                        break;
                    }
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break; // BINFLOAT

                case (byte)'X': Push(Utf8(U32())); break; // BINUNICODE
                case 0x8c: Push(Utf8(U8())); break; // SHORT_BINUNICODE
                case 0x8d: Push(Utf8(Len64())); break; // BINUNICODE8
                case (byte)'T': { int n = I32(); Push(Encoding.Latin1.GetString(Take(n))); break; } // BINSTRING
                case (byte)'U': Push(Encoding.Latin1.GetString(Take(U8()))); break; // SHORT_BINSTRING
                case (byte)'B': Push(Take(U32()).ToArray()); break; // BINBYTES
                case (byte)'C': Push(Take(U8()).ToArray()); break; // SHORT_BINBYTES
                case 0x8e: Push(Take(Len64()).ToArray()); break; // BINBYTES8

                case (byte)'q': MemoPut(U8()); break; // BINPUT
                case (byte)'r': MemoPut(U32()); break; // LONG_BINPUT
                case 0x94: MemoPut(_memo.Count); break; // MEMOIZE
                case (byte)'h': Push(MemoGet(U8())); break; // BINGET
                case (byte)'j': Push(MemoGet(U32())); break; // LONG_BINGET

                case (byte)'c': // GLOBAL
                    {
                        var module = Line();
                        var name = Line();
                        Push(Global(module, name));
                        break;
                    }
                case 0x93: // STACK_GLOBAL
                    {
                        var name = Pop();
                        var module = Pop();
                        if (module is not string m || name is not string n) throw ErrorAt("STACK_GLOBAL needs two strings");
                        Push(Global(m, n));
                        break;
                    }
                case (byte)'R': // REDUCE
                    {
                        var args = Pop();
                        var callable = Pop();
                        if (args is not PyTuple t) throw ErrorAt($"REDUCE arguments are a {TypeName(args)}, not a tuple");
                        Push(Call(callable, t));
                        break;
                    }
                case 0x81: // NEWOBJ: cls.__new__(cls, *args) - only for the allowed classes
                    {
                        var args = Pop();
                        var cls = Pop();
                        if (args is not PyTuple t) throw ErrorAt($"NEWOBJ arguments are a {TypeName(args)}, not a tuple");
                        Push(Call(cls, t));
                        break;
                    }
                case (byte)'b': // BUILD
                    {
                        var state = Pop();
                        var target = Top();
                        Build(target, state);
                        break;
                    }
                case (byte)'Q': // BINPERSID
                    {
                        var pid = Pop();
                        if (_persistentLoad is null) throw ErrorAt("persistent id found but none expected");
                        if (pid is not PyTuple t) throw ErrorAt($"persistent id is a {TypeName(pid)}, not a tuple");
                        Push(_persistentLoad(t));
                        break;
                    }

                case (byte)'s': // SETITEM
                    {
                        var v = Pop();
                        var k = Pop();
                        AsDict(Top(), "SETITEM").Set(k, v, ErrorAt);
                        break;
                    }
                case (byte)'u': // SETITEMS
                    {
                        var items = PopMark();
                        if (items.Count % 2 != 0) throw ErrorAt("SETITEMS with an odd number of items");
                        var d = AsDict(Top(), "SETITEMS");
                        for (int i = 0; i < items.Count; i += 2) d.Set(items[i], items[i + 1], ErrorAt);
                        break;
                    }
                case (byte)'a': // APPEND
                    {
                        var v = Pop();
                        AsList(Top(), "APPEND").Add(v);
                        break;
                    }
                case (byte)'e': // APPENDS
                    {
                        var items = PopMark();
                        AsList(Top(), "APPENDS").AddRange(items);
                        break;
                    }
                case 0x90: // ADDITEMS
                    {
                        var items = PopMark();
                        if (Top() is not PySet s) throw ErrorAt($"ADDITEMS on a {TypeName(Top())}");
                        s.Items.AddRange(items);
                        break;
                    }
                default:
                    throw ErrorAt($"unsupported pickle opcode 0x{op:x2}" + (op is >= 0x20 and < 0x7f ? $" ('{(char)op}')" : ""));
            }
        }
    }

    private long Len64()
    {
        ulong n = U64();
        if (n > (ulong)(_data.Length - _pos)) throw ErrorAt($"truncated pickle: length {n} exceeds the remaining data");
        return (long)n;
    }

    private object Long(int n)
    {
        if (n == 0) return 0L;
        var v = new BigInteger(Take(n), isUnsigned: false, isBigEndian: false);
        if (v >= long.MinValue && v <= long.MaxValue) return (long)v;
        return v;
    }

    private PyGlobal Global(string module, string name)
    {
        var g = new PyGlobal(module, name);
        if (IsStorageGlobal(g) || AllowedCallables.Contains(g.FullName)) return g;
        throw new CheckpointFormatException(_file,
            $"disallowed global '{g.FullName}' in {_entry} (only tensors, storages and OrderedDict are accepted; nothing in the file is executed)");
    }

    private PyDict AsDict(object? o, string op) => o as PyDict ?? throw ErrorAt($"{op} on a {TypeName(o)}");

    private List<object?> AsList(object? o, string op) => o switch
    {
        PyList l => l.Items,
        _ => throw ErrorAt($"{op} on a {TypeName(o)}"),
    };

    private void Build(object? target, object? state)
    {
        switch (target)
        {
            case PyDict d:
                // OrderedDict attributes (torch's state_dict._metadata): data only, kept and ignored.
                if (state is not (PyDict or PyTuple or null)) throw ErrorAt($"BUILD state of a dict is a {TypeName(state)}");
                d.BuildState = state;
                break;
            default:
                throw ErrorAt($"BUILD on a {TypeName(target)} is not supported");
        }
    }

    private object? Call(object? callable, PyTuple args)
    {
        if (callable is not PyGlobal g) throw ErrorAt($"cannot call a {TypeName(callable)}");
        switch (g.FullName)
        {
            case "collections.OrderedDict":
                {
                    var d = new PyDict { IsOrderedDict = true };
                    if (args.Count == 0) return d;
                    if (args.Count == 1 && args[0] is PyList pairs)
                    {
                        foreach (var p in pairs.Items)
                        {
                            if (p is not PyTuple { Count: 2 } kv) throw ErrorAt("OrderedDict(...) items must be pairs");
                            d.Set(kv[0], kv[1], ErrorAt);
                        }
                        return d;
                    }
                    throw ErrorAt("unsupported OrderedDict(...) arguments");
                }
            case "torch._utils._rebuild_tensor":
                if (args.Count != 4) throw ErrorAt($"_rebuild_tensor takes 4 arguments, got {args.Count}");
                return RebuildTensor(args);
            case "torch._utils._rebuild_tensor_v2":
                // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
                if (args.Count is < 6 or > 7) throw ErrorAt($"_rebuild_tensor_v2 takes 6 or 7 arguments, got {args.Count}");
                if (args[5] is not (PyDict or null)) throw ErrorAt("_rebuild_tensor_v2 backward_hooks must be a dict");
                return RebuildTensor(args);
            case "torch._utils._rebuild_parameter":
                // (data, requires_grad, backward_hooks)
                if (args.Count != 3 || args[0] is not TensorRef param) throw ErrorAt("malformed _rebuild_parameter arguments");
                return param;
            case "torch._utils._rebuild_parameter_with_state":
                // (data, requires_grad, backward_hooks, state): only an empty state is accepted
                if (args.Count != 4 || args[0] is not TensorRef ps) throw ErrorAt("malformed _rebuild_parameter_with_state arguments");
                if (args[3] is not (null or PyDict { Entries.Count: 0 }))
                    throw ErrorAt("_rebuild_parameter_with_state with a non-empty Python state is not supported");
                return ps;
            default:
                throw ErrorAt($"'{g.FullName}' cannot be called");
        }
    }

    private TensorRef RebuildTensor(PyTuple args)
    {
        if (args[0] is not StorageRef storage) throw ErrorAt($"tensor storage is a {TypeName(args[0])}, not a storage");
        if (args[1] is not long offset || offset < 0) throw ErrorAt("tensor storage_offset must be a non-negative int");
        var size = IntTuple(args[2], "size");
        var stride = IntTuple(args[3], "stride");
        if (size.Length != stride.Length) throw ErrorAt($"tensor size {DTypes.ShapeText(size)} and stride {DTypes.ShapeText(stride)} differ in rank");
        if (size.Any(s => s < 0)) throw ErrorAt($"negative tensor size {DTypes.ShapeText(size)}");
        if (stride.Any(s => s < 0)) throw ErrorAt($"negative tensor stride {DTypes.ShapeText(stride)}");
        if (DTypes.Numel(size) is null) throw ErrorAt($"tensor size {DTypes.ShapeText(size)} overflows");
        return new TensorRef(storage, offset, size, stride);
    }

    private long[] IntTuple(object? o, string what)
    {
        if (o is not PyTuple t) throw ErrorAt($"tensor {what} is a {TypeName(o)}, not a tuple");
        if (t.Count > 64) throw ErrorAt($"tensor {what} has {t.Count} dimensions");
        var r = new long[t.Count];
        for (int i = 0; i < t.Count; i++)
            r[i] = t[i] is long v ? v : throw ErrorAt($"tensor {what} holds a {TypeName(t[i])}, not a 64-bit integer");
        return r;
    }
}
