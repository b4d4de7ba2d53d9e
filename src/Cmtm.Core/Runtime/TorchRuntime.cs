using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Cmtm.Runtime;

/// <summary>
/// Process-wide libtorch settings: device selection, thread count, and the oneDNN switch.
/// </summary>
public static class TorchRuntime
{
    /// <summary>Parses "cpu", "cuda", "cuda:1"; fails with a clear message when CUDA is not available.</summary>
    public static Device ParseDevice(string? name)
    {
        name = string.IsNullOrWhiteSpace(name) ? "cpu" : name.Trim().ToLowerInvariant();
        if (name == "cpu") return CPU;
        if (name.StartsWith("cuda"))
        {
            if (!cuda.is_available())
                throw new CmtmException("device", $"'{name}' requested but CUDA is not available in this build (libtorch-cpu); use --device cpu");
            return new Device(name);
        }
        throw new CmtmException("device", $"unknown device '{name}' (expected cpu, cuda or cuda:N)");
    }

    /// <summary>Sets intra-op threads (0 or less = leave libtorch's default).</summary>
    public static void SetThreads(int threads)
    {
        if (threads > 0) set_num_threads(threads);
    }

    [DllImport("torch_cpu", EntryPoint = "_ZN2at13globalContextEv")]
    private static extern IntPtr GlobalContext();

    [DllImport("torch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledMkldnnEb")]
    private static extern void SetUserEnabledMkldnnNative(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [DllImport("torch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledNNPACKEb")]
    private static extern void SetUserEnabledNnpackNative(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    private static int _initialized;

    /// <summary>
    /// Process-wide settings applied once before any model runs: NNPACK is switched off (libtorch tries it for small
    /// convolutions when oneDNN is not chosen; on x86 it is unsupported and prints a warning per call).
    /// </summary>
    public static void EnsureInitialized()
    {
        if (Interlocked.Exchange(ref _initialized, 1) == 1) return;
        SetUserEnabledNnpackNative(GlobalContext(), false);
    }

    [DllImport("torch_cpu", EntryPoint = "_ZNK2at7Context17userEnabledMkldnnEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static extern bool UserEnabledMkldnnNative(IntPtr context);

    /// <summary>Which malloc serves libtorch's CPU tensors (for `cmtm version` / `cmtm bench`).</summary>
    public static string AllocatorNote { get; } = DescribeAllocator();

    /// <summary>
    /// The libtorch native package this process runs on, as "2.10.0 (libtorch-cpu-linux-x64)", read from the running
    /// application's dependency manifest (its .deps.json), so it names what the executable actually ships, whichever
    /// runtime package (CPU or CUDA) it chose; "unknown" when the manifest does not say.
    /// </summary>
    public static string LibTorchPackage => libTorchPackage.Value;

    // read when asked (version, bench), not when any command first touches this class
    private static readonly Lazy<string> libTorchPackage = new(FindLibTorchPackage);

    private static string FindLibTorchPackage()
    {
        try
        {
            foreach (var file in (AppContext.GetData("APP_CONTEXT_DEPS_FILES") as string ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries))
            {
                if (!File.Exists(file)) continue;
                using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(file));
                if (!doc.RootElement.TryGetProperty("libraries", out var libs)) continue;
                foreach (var lib in libs.EnumerateObject())
                {
                    var slash = lib.Name.IndexOf('/');
                    if (slash > 0 && lib.Name.StartsWith("libtorch-", StringComparison.Ordinal))
                        return $"{lib.Name[(slash + 1)..]} ({lib.Name[..slash]})";
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException) { }
        return "unknown";
    }

    /// <summary>
    /// `./cmtm` and `./test` preload tcmalloc (scripts/allocator.sh); measured on the project's machine, glibc malloc
    /// fragments under libtorch's per-frame pattern of large allocations (resident memory ~1 GB after 100 FakeFlow-b0
    /// frames with ~90 MB in use) and faults every large tensor in fresh, while tcmalloc keeps the peak at ~470 MB and
    /// is 10-25 % faster. A program that uses the library directly gets the same by starting with
    /// LD_PRELOAD=libtcmalloc_minimal.so.4.
    /// </summary>
    private static string DescribeAllocator()
    {
        try
        {
            if (NativeLibrary.TryGetExport(NativeLibrary.GetMainProgramHandle(), "tc_malloc", out _)) return "tcmalloc";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or PlatformNotSupportedException) { }
        var thp = Environment.GetEnvironmentVariable("THP_MEM_ALLOC_ENABLE");
        return "system malloc (preload libtcmalloc_minimal.so.4 for speed and flat memory; ./cmtm does)" + (thp != null ? $", THP_MEM_ALLOC_ENABLE={thp}" : "");
    }

    static TorchRuntime()
    {
        // make sure libtorch is loaded (TorchSharp resolves the native libraries on first use)
        _ = torch.get_num_threads();
        NativeLibrary.SetDllImportResolver(typeof(TorchRuntime).Assembly, (name, asm, path) =>
        {
            if (name != "torch_cpu") return IntPtr.Zero;
            foreach (var dir in new[] { AppContext.BaseDirectory, Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native") })
            {
                var p = Path.Combine(dir, "libtorch_cpu.so");
                if (File.Exists(p) && NativeLibrary.TryLoad(p, out var h)) return h;
            }
            return NativeLibrary.TryLoad("libtorch_cpu.so", asm, path, out var h2) ? h2 : IntPtr.Zero;
        });
    }

    /// <summary>
    /// Whether libtorch may use oneDNN (mkldnn) kernels. libtorch 2.10's oneDNN computes wrong or NaN
    /// conv2d backward results on some CPUs for 3x3 convolutions with few output channels at batch &gt; 1,
    /// so training turns it off; inference leaves it on.
    /// </summary>
    public static bool MkldnnEnabled
    {
        get => UserEnabledMkldnnNative(GlobalContext());
        set => SetUserEnabledMkldnnNative(GlobalContext(), value);
    }
}
