using System.Runtime.CompilerServices;

/// <summary>
/// .NET startup hook (DOTNET_STARTUP_HOOKS=path/to/Cmtm.Tests.dll) for child processes of the GC soak tests: when
/// CMTM_TEST_GC_STRESS=1 it starts a background thread that runs the garbage collector and the finalizers in a tight
/// loop, so an object that becomes unreachable while native code still uses its handle (a temporary TorchSharp Scalar
/// or Tensor) is collected and finalised during that native call, not only once in a long while. It lives in the
/// test assembly (the type must be called StartupHook, in no namespace); the product has no such hook.
/// </summary>
public static class StartupHook
{
    /// <summary>The switch the hook reads; anything but "1" leaves the process alone.</summary>
    public const string Variable = "CMTM_TEST_GC_STRESS";

    /// <summary>The start of the line written to stderr at exit: "gc-stress collections: N" (young collections).</summary>
    public const string Report = "gc-stress collections:";

    /// <summary>Called by the runtime before Main.</summary>
    public static void Initialize()
    {
        if (Environment.GetEnvironmentVariable(Variable) != "1") return;
        // the count on stderr at exit lets the tests check that the stress really ran
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Console.Error.WriteLine($"{Report} {GC.CollectionCount(0)}");
        new Thread(Hammer) { IsBackground = true, Name = "gc-stress" }.Start();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Hammer()
    {
        // young collections most of the time (the temporaries are young), a full one now and then
        for (long i = 0; ; i++)
        {
            GC.Collect(i % 16 == 0 ? GC.MaxGeneration : 0);
            GC.WaitForPendingFinalizers();
        }
    }
}
