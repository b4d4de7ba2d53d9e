using Mono.Cecil;
using Mono.Cecil.Cil;

namespace Cmtm.Tests.Reliability;

/// <summary>
/// Finds, in compiled IL, every TorchSharp <c>Scalar</c> that can be finalised while native code still reads it.
/// TorchSharp 0.107's <c>Scalar</c> owns a native at::Scalar and frees it in its finaliser; a Tensor method such as
/// <c>div(Scalar)</c> reads the handle and calls libtorch without keeping the Scalar alive, and DisposeScopes never hold
/// Scalars. So a Scalar made for one call (an implicit <c>t.div(255f)</c>, or TorchSharp's own <c>add(t)</c> = add(t, 1))
/// can be collected and freed by a GC during that very call. A Scalar is safe only when something keeps it reachable
/// until the call returns: a local that is disposed (or GC.KeepAlive'd) afterwards, or a field.
/// </summary>
internal static class ScalarLifetimeAudit
{
    /// <summary>One unsafe place: the method, the source line (when the PDB has it) and what is wrong.</summary>
    public sealed record Finding(string Method, string Where, string What)
    {
        public override string ToString() => $"{Where} {Method}: {What}";
    }

    private const string ScalarType = "TorchSharp.Scalar";

    /// <summary>
    /// Virtual methods whose TorchSharp overrides are not counted for a call from our code through the base method:
    /// every module's forward would otherwise be flagged because BatchNorm's forward (training mode only) makes a Scalar.
    /// The tests check separately that the trained model holds no BatchNorm.
    /// </summary>
    private static readonly string[] VirtualExclusions = ["forward", "call"];

    public static ModuleDefinition Read(string path, bool symbols)
    {
        var resolver = new DefaultAssemblyResolver();
        resolver.AddSearchDirectory(Path.GetDirectoryName(path)!);
        return ModuleDefinition.ReadModule(path, new ReaderParameters { AssemblyResolver = resolver, ReadSymbols = symbols && File.Exists(Path.ChangeExtension(path, ".pdb")) });
    }

    private static IEnumerable<MethodDefinition> Methods(ModuleDefinition m) =>
        m.GetTypes().SelectMany(t => t.Methods).Where(x => x.HasBody);

    private static string Key(MethodReference m) => (m.Resolve() ?? throw new InvalidOperationException($"cannot resolve {m.FullName}")).FullName;

    private static bool TryKey(MethodReference m, out string key)
    {
        try { key = m.Resolve()?.FullName ?? m.FullName; return true; }
        catch (AssemblyResolutionException) { key = m.FullName; return false; }
    }

    private static bool IsCall(Instruction i) => i.OpCode.Code is Code.Call or Code.Callvirt or Code.Newobj;

    private static bool ReturnsScalar(MethodReference m) => m.ReturnType.FullName == ScalarType;

    /// <summary>The local index a store instruction writes, or -1.</summary>
    private static int StoredLocal(Instruction i) => i.OpCode.Code switch
    {
        Code.Stloc_0 => 0, Code.Stloc_1 => 1, Code.Stloc_2 => 2, Code.Stloc_3 => 3,
        Code.Stloc_S or Code.Stloc => ((VariableDefinition)i.Operand).Index,
        _ => -1,
    };

    private static int LoadedLocal(Instruction i) => i.OpCode.Code switch
    {
        Code.Ldloc_0 => 0, Code.Ldloc_1 => 1, Code.Ldloc_2 => 2, Code.Ldloc_3 => 3,
        Code.Ldloc_S or Code.Ldloc or Code.Ldloca_S or Code.Ldloca => ((VariableDefinition)i.Operand).Index,
        _ => -1,
    };

    /// <summary>Local <paramref name="index"/> is loaded somewhere and handed straight to Dispose or GC.KeepAlive.</summary>
    private static bool KeptAliveLocal(MethodDefinition method, int index) =>
        method.Body.Instructions.Any(i => LoadedLocal(i) == index && i.Next is { } n && IsCall(n)
            && n.Operand is MethodReference r && (r.Name == "Dispose" || (r.Name == "KeepAlive" && r.DeclaringType.FullName == "System.GC")));

    /// <summary>
    /// How a freshly made Scalar (the result of the call at <paramref name="call"/>) is held: "kept" (field, or a local
    /// that is disposed or kept alive later), "returned" (the method is itself a factory), or "temporary".
    /// </summary>
    private static string Fate(MethodDefinition method, Instruction call)
    {
        var next = call.Next;
        if (next == null) return "temporary";
        if (next.OpCode.Code is Code.Stsfld or Code.Stfld) return "kept";
        if (next.OpCode.Code == Code.Ret) return "returned";
        int local = StoredLocal(next);
        if (local >= 0)
        {
            // a local returned at once (compiler-generated `stloc; br; ldloc; ret`) is a factory too
            if (next.Next is { } a && (a.OpCode.Code == Code.Ret || (a.OpCode.Code is Code.Br or Code.Br_S && a.Operand is Instruction t && LoadedLocal(t) == local && t.Next?.OpCode.Code == Code.Ret)))
                return "returned";
            return KeptAliveLocal(method, local) ? "kept" : "temporary";
        }
        return "temporary";
    }

    /// <summary>Scalar factories: TorchSharp's implicit conversions and ToScalar, and any method returning one of theirs.</summary>
    private static HashSet<string> Factories(IEnumerable<MethodDefinition> methods, HashSet<string> seed)
    {
        var factories = new HashSet<string>(seed);
        bool grew = true;
        var list = methods.Where(m => ReturnsScalar(m)).ToList();
        while (grew)
        {
            grew = false;
            foreach (var m in list)
            {
                if (factories.Contains(m.FullName)) continue;
                foreach (var i in m.Body.Instructions)
                    if (IsCall(i) && i.Operand is MethodReference r && ReturnsScalar(r) && TryKey(r, out var k) && factories.Contains(k) && Fate(m, i) == "returned")
                    { factories.Add(m.FullName); grew = true; break; }
            }
        }
        return factories;
    }

    private static HashSet<string> SeedFactories(ModuleDefinition torchSharp) => Methods(torchSharp)
        .Where(m => ReturnsScalar(m) && (m.DeclaringType.FullName == ScalarType && m.Name == "op_Implicit"
                                         || m.DeclaringType.FullName == "TorchSharp.ScalarExtensionMethods" && m.Name == "ToScalar"))
        .Select(m => m.FullName).ToHashSet();

    /// <summary>
    /// The TorchSharp side: its Scalar factories; every method that makes a temporary Scalar itself or through another
    /// TorchSharp method it calls or a lambda it creates (<see cref="Unsafe"/>); and the virtual methods with an unsafe
    /// override, such as Optimizer.step (Adam.step), for calls from our code (<see cref="UnsafeVirtual"/>).
    /// </summary>
    public sealed record TorchSharpFacts(HashSet<string> Factories, HashSet<string> Unsafe, HashSet<string> UnsafeVirtual);

    public static TorchSharpFacts Analyse(ModuleDefinition torchSharp)
    {
        var all = Methods(torchSharp).ToList();
        var factories = Factories(all, SeedFactories(torchSharp));
        var unsafeSet = new HashSet<string>();
        var callers = new Dictionary<string, List<string>>();
        foreach (var m in all)
        {
            if (factories.Contains(m.FullName)) continue;
            foreach (var i in m.Body.Instructions)
            {
                if (i.Operand is not MethodReference r || !(IsCall(i) || i.OpCode.Code is Code.Ldftn or Code.Ldvirtftn)) continue;
                if (!TryKey(r, out var k)) continue;
                if (IsCall(i) && factories.Contains(k) && Fate(m, i) == "temporary") unsafeSet.Add(m.FullName);
                if (!callers.TryGetValue(k, out var list)) callers[k] = list = new List<string>();
                list.Add(m.FullName);
            }
        }
        var work = new Queue<string>(unsafeSet);
        while (work.Count > 0)
            if (callers.TryGetValue(work.Dequeue(), out var up))
                foreach (var caller in up)
                    if (unsafeSet.Add(caller)) work.Enqueue(caller);
        // a virtual call may land in any override: the base methods that have an unsafe override in TorchSharp
        var unsafeVirtual = all.Where(m => m.IsVirtual && !m.IsNewSlot && !VirtualExclusions.Contains(m.Name) && unsafeSet.Contains(m.FullName))
            .SelectMany(BaseMethods).Select(b => b.FullName).ToHashSet();
        return new TorchSharpFacts(factories, unsafeSet, unsafeVirtual);
    }

    private static IEnumerable<MethodDefinition> BaseMethods(MethodDefinition m)
    {
        for (var t = m.DeclaringType.BaseType?.Resolve(); t != null; t = t.BaseType?.Resolve())
            foreach (var b in t.Methods.Where(b => b.IsVirtual && b.Name == m.Name && b.Parameters.Count == m.Parameters.Count
                         && b.Parameters.Select(p => p.ParameterType.FullName).SequenceEqual(m.Parameters.Select(p => p.ParameterType.FullName))))
                yield return b;
    }

    /// <summary>Every unsafe place in <paramref name="module"/> (our code).</summary>
    public static List<Finding> Audit(ModuleDefinition module, TorchSharpFacts ts)
    {
        var all = Methods(module).ToList();
        var factories = Factories(all, ts.Factories);
        var findings = new List<Finding>();
        foreach (var m in all)
        {
            if (factories.Contains(m.FullName)) continue;
            foreach (var i in m.Body.Instructions)
            {
                if (!IsCall(i) || i.Operand is not MethodReference r || !TryKey(r, out var k)) continue;
                if (factories.Contains(k) && Fate(m, i) == "temporary")
                    findings.Add(new Finding(Name(m), Where(m, i), $"temporary Scalar from {Signature(r)} is not kept alive"));
                else if (ts.Unsafe.Contains(k))
                    findings.Add(new Finding(Name(m), Where(m, i), $"TorchSharp's {Signature(r)} makes a temporary Scalar"));
                else if (i.OpCode.Code == Code.Callvirt && ts.UnsafeVirtual.Contains(k))
                    findings.Add(new Finding(Name(m), Where(m, i), $"virtual {Signature(r)} can run a TorchSharp override that makes a temporary Scalar"));
            }
        }
        return findings;
    }

    private static string Signature(MethodReference r) =>
        $"{r.DeclaringType.Name}.{r.Name}({string.Join(", ", r.Parameters.Select(p => p.ParameterType.Name))})";

    private static string Name(MethodDefinition m) => m.DeclaringType.FullName + "::" + m.Name;

    private static string Where(MethodDefinition m, Instruction i)
    {
        if (!m.DebugInformation.HasSequencePoints) return $"IL_{i.Offset:x4}";
        for (var x = i; x != null; x = x.Previous)
            if (m.DebugInformation.GetSequencePoint(x) is { IsHidden: false } sp)
                return $"{Path.GetFileName(sp.Document.Url)}:{sp.StartLine}";
        return $"IL_{i.Offset:x4}";
    }
}
