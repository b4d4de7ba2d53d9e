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
                throw new CmtmException("--device", $"'{name}' requested but CUDA is not available in this build (libtorch-cpu); use --device cpu");
            return new Device(name);
        }
        throw new CmtmException("--device", $"unknown device '{name}' (expected cpu, cuda or cuda:N)");
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

    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int SetEnvNative([MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int MallOpt(int param, int value);

    private const int M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3;

    /// <summary>What <see cref="ConfigureAllocator"/> did (for `cmtm version` / `cmtm bench`).</summary>
    public static string AllocatorNote { get; private set; } = "libtorch default";

    /// <summary>
    /// CPU memory settings, applied before libtorch allocates its first tensor (measured: the same outputs, and on the
    /// project's 2-core machine the steady-state page faults per CMTM/FakeFlow frame drop from ~35,000 to ~50):
    /// <list type="bullet">
    /// <item>libtorch's transparent-huge-page allocation (`THP_MEM_ALLOC_ENABLE=1`: 2 MB pages for tensors of 2 MB and
    /// more), unless the variable is already set;</item>
    /// <item>glibc keeps freed memory for reuse instead of returning every large tensor to the kernel (mmap threshold
    /// 1 GiB, no trimming), so a frame's tensors reuse the previous frame's pages instead of faulting in fresh zeroed
    /// ones. Peak memory is unchanged in principle (the same tensors are alive at the peak); the process keeps its
    /// high-water mark instead of shrinking between frames.</item>
    /// </list>
    /// `CMTM_ALLOCATOR=default` (environment) leaves both at libtorch's / glibc's defaults.
    /// </summary>
    private static void ConfigureAllocator()
    {
        if (!OperatingSystem.IsLinux()) return;
        if (string.Equals(Environment.GetEnvironmentVariable("CMTM_ALLOCATOR"), "default", StringComparison.OrdinalIgnoreCase)) return;
        var notes = new List<string>();
        try
        {
            var thp = Environment.GetEnvironmentVariable("THP_MEM_ALLOC_ENABLE");
            if (thp == null && SetEnvNative("THP_MEM_ALLOC_ENABLE", "1", 0) == 0) thp = "1";
            notes.Add(thp == "1" ? "huge pages on" : $"THP_MEM_ALLOC_ENABLE={thp}");
            if (MallOpt(M_MMAP_THRESHOLD, 1 << 30) == 1 && MallOpt(M_TRIM_THRESHOLD, int.MaxValue) == 1) notes.Add("freed memory reused");
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { notes.Add("libc settings unavailable"); }
        AllocatorNote = string.Join(", ", notes);
    }

    static TorchRuntime()
    {
        ConfigureAllocator();
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
