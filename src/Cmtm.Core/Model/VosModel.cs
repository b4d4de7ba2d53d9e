using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Cmtm.Model;

/// <summary>Intermediate results of one forward pass, captured on request (tests, visualisation).</summary>
public sealed class VosTrace : IDisposable
{
    public Tensor? ImageResized, FlowResized, AppTokens, MoTokens, ModulatorOut, DecoderOut;
    public Tensor[]? App, Mo;

    /// <summary>A detached copy that outlives every dispose scope of the forward pass.</summary>
    public static Tensor Keep(Tensor t)
    {
        using var d = t.detach();
        using var c = d.contiguous(); // NCHW memory (the model's feature maps are channels-last)
        return c.clone().DetachFromDisposeScope();
    }

    public void Dispose()
    {
        foreach (var t in new[] { ImageResized, FlowResized, AppTokens, MoTokens, ModulatorOut, DecoderOut }) t?.Dispose();
        foreach (var t in (App ?? Array.Empty<Tensor>()).Concat(Mo ?? Array.Empty<Tensor>())) t.Dispose();
    }
}

/// <summary>
/// The `vos` module of the official code: two independent MiT encoders (`app_encoder` for RGB frames,
/// `mo_encoder` for flow images), the CMTM `modulator` (CMTM only) and the FakeFlow `decoder`.
/// Works at the model resolution: inputs (B,3,R,R) in [0,1], output logits (B,2,R,R).
/// </summary>
public sealed class VosNet : Module<Tensor, Tensor, Tensor>
{
    private readonly StreamEncoder app_encoder, mo_encoder;
    private readonly Modulator? modulator;
    private readonly FakeFlowDecoder decoder;
    public ModelConfig Config { get; }
    public Modulator? Modulator => modulator;

    public VosNet(ModelConfig cfg) : base("VOS")
    {
        Config = cfg;
        app_encoder = new StreamEncoder(cfg.Backbone, cfg.DropPathRate);
        mo_encoder = new StreamEncoder(cfg.Backbone, cfg.DropPathRate);
        register_module("app_encoder", app_encoder);
        register_module("mo_encoder", mo_encoder);
        if (cfg.Architecture == Architecture.Cmtm)
        {
            modulator = new Modulator(cfg.ModulatorDim, cfg.TokensPerModality, cfg.Modulator);
            register_module("modulator", modulator);
        }
        decoder = new FakeFlowDecoder(cfg.Backbone.Dims, modulated: modulator != null);
        register_module("decoder", decoder);
    }

    public override Tensor forward(Tensor image, Tensor flow) => Forward(image, flow, null);

    /// <summary>Called after each stage of a forward pass ("resize_in" from <see cref="VosModel"/>, then "encoders" (both,
    /// concurrent) or "app_encoder" and "mo_encoder", then "modulator", "decoder"): `cmtm bench` times the stages with it.</summary>
    public Action<string>? StageDone { get; set; }

    /// <summary>
    /// Whether the two encoders run at the same time when no gradient is recorded (inference): null (default) = when
    /// libtorch uses at most 2 intra-op threads, true = always, false = never. Why: with so few intra-op threads, which
    /// scale poorly on small tensors, the two encoders side by side finish sooner than one after the other (measured
    /// with `cmtm bench`, blocks of frames interleaved in one run); with more threads the two encoders' thread teams
    /// would oversubscribe the cores, which was not measured, so they stay sequential there.
    /// The outputs are the same (each encoder's arithmetic does not depend on the other; tested bit for bit). Training
    /// stays sequential: DropPath draws from the global generator, whose order must not depend on thread timing.
    /// </summary>
    public bool? ConcurrentEncoders { get; set; }

    /// <summary>The stage features of both streams; "encoders" (concurrent) or "app_encoder", "mo_encoder" for StageDone.</summary>
    private (Tensor[] App, Tensor[] Mo) Encode(Tensor image, Tensor flow)
    {
        if (is_grad_enabled() || !(ConcurrentEncoders ?? get_num_threads() <= 2))
        {
            var a = app_encoder.forward(image);
            StageDone?.Invoke("app_encoder");
            Tensor[] m;
            try { m = mo_encoder.forward(flow); }
            catch { foreach (var t in a) t.Dispose(); throw; }
            StageDone?.Invoke("mo_encoder");
            return (a, m);
        }
        // grad mode and dispose scopes are per thread: the worker enters the caller's mode and hands its outputs over
        bool inference = is_inference_mode_enabled();
        var motion = Task.Run(() =>
        {
            using var mode = inference ? inference_mode() : null;
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            var outputs = mo_encoder.forward(flow);
            foreach (var t in outputs) t.DetachFromDisposeScope();
            return outputs;
        });
        Tensor[] app;
        try { app = app_encoder.forward(image); }
        catch
        {
            try { foreach (var t in motion.GetAwaiter().GetResult()) t.Dispose(); } catch { /* the first error is reported */ }
            throw;
        }
        Tensor[] mo;
        try { mo = motion.GetAwaiter().GetResult(); }
        catch { foreach (var t in app) t.Dispose(); throw; }
        StageDone?.Invoke("encoders");
        return (app, mo);
    }

    public Tensor Forward(Tensor image, Tensor flow, VosTrace? trace)
    {
        var (app, mo) = Encode(image, flow);
        try
        {
            if (trace != null) { trace.App = app.Select(VosTrace.Keep).ToArray(); trace.Mo = mo.Select(VosTrace.Keep).ToArray(); }
            if (modulator == null)
            {
                var fakeflow = decoder.Forward(app, mo);
                StageDone?.Invoke("decoder");
                return Keep(trace, fakeflow, t => trace!.DecoderOut = t);
            }

            using var scope = NewDisposeScope();
            long b = image.shape[0], c = app[2].shape[1], g = app[2].shape[2], w = app[2].shape[3], n = g * w;
            var appTokens = app[2].flatten(2).transpose(1, 2);
            var moTokens = mo[2].flatten(2).transpose(1, 2);
            var recon = modulator.forward(appTokens, moTokens);
            StageDone?.Invoke("modulator");
            if (trace != null)
            {
                trace.AppTokens = VosTrace.Keep(appTokens);
                trace.MoTokens = VosTrace.Keep(moTokens);
                trace.ModulatorOut = VosTrace.Keep(recon);
            }
            // token rows back to (B,C,G,W) maps as channels-last views (no copy), like the encoders' outputs
            var appMap = recon.narrow(1, 0, n).reshape(b, g, w, c).permute(0, 3, 1, 2);
            var moMap = recon.narrow(1, n, n).reshape(b, g, w, c).permute(0, 3, 1, 2);
            var logits = decoder.Forward(app, mo, appMap, moMap).MoveToOuterDisposeScope();
            StageDone?.Invoke("decoder");
            return Keep(trace, logits, t => trace!.DecoderOut = t);
        }
        finally
        {
            foreach (var t in app.Concat(mo)) t.Dispose();
        }
    }

    private static Tensor Keep(VosTrace? trace, Tensor t, Action<Tensor> store)
    {
        if (trace != null) store(VosTrace.Keep(t));
        return t;
    }
}

/// <summary>
/// The complete segmentation model (CMTM or FakeFlow). Its single child `vos` carries the official names, so an
/// official checkpoint loads by name. <see cref="forward"/> takes frames of any size: image and flow are resized
/// to the model resolution (torch bicubic, align_corners false), and the logits are resized back to the image size.
/// </summary>
public sealed class VosModel : Module<Tensor, Tensor, Tensor>
{
    private readonly VosNet vos;
    public ModelConfig Config { get; }
    public VosNet Net => vos;
    public Modulator? Modulator => vos.Modulator;

    /// <summary>The number format of the weights and of the computation between the resizes (see <see cref="Model.Precision"/>).</summary>
    public Precision Precision { get; private set; } = Precision.Fp32;

    /// <summary>Converts the weights (parameters and buffers) to <paramref name="precision"/>; inference only for bf16.
    /// Convert on the target device (after <c>to(device)</c>). Converting back to fp32 keeps the bf16-rounded values.</summary>
    public VosModel UsePrecision(Precision precision)
    {
        if (precision == Precision) return this;
        this.to(precision.DType());
        Precision = precision;
        return this;
    }

    static VosModel() => Runtime.TorchRuntime.EnsureInitialized();

    public VosModel(ModelConfig config) : base(config.Architecture == Architecture.Cmtm ? "CMTM" : "FakeFlow")
    {
        config.Validate();
        Config = config;
        vos = new VosNet(config);
        register_module("vos", vos);
    }

    /// <summary>image (B,3,H,W) and flow (B,3,H',W') RGB in [0,1] -> logits (B,2,H,W) (background, foreground), contiguous,
    /// in the inputs' dtype. With bf16 weights the float32 inputs are resized first and then converted, and the logits
    /// are converted back before they are resized to the frame size.</summary>
    public override Tensor forward(Tensor image, Tensor flow) => Forward(image, flow, null);

    /// <summary>
    /// As <see cref="forward"/>, optionally capturing intermediates in <paramref name="trace"/>. <paramref name="outputSize"/>
    /// (height, width) is the size the logits are resized to (default: the image's); scoring against an annotation larger
    /// than its frame (e.g. half-size frames with full-size DAVIS annotations) asks for the annotation's size, so the
    /// logits are resized once, from the model resolution, and the mask is their argmax at that size.
    /// </summary>
    public Tensor Forward(Tensor image, Tensor flow, VosTrace? trace, (long Height, long Width)? outputSize = null)
    {
        if (image.dim() != 4 || image.shape[1] != 3) throw new ArgumentException($"image must be (B,3,H,W), got ({string.Join(",", image.shape)})");
        if (flow.dim() != 4 || flow.shape[1] != 3) throw new ArgumentException($"flow must be (B,3,H,W), got ({string.Join(",", flow.shape)})");
        if (outputSize is { } o && (o.Height < 1 || o.Width < 1)) throw new ArgumentException($"output size must be positive, got {o.Height}x{o.Width}");
        using var scope = NewDisposeScope();
        var (h, w) = outputSize ?? (image.shape[2], image.shape[3]);
        var img = ResizeTo(image, Config.Resolution, Config.Resolution);
        var flo = ResizeTo(flow, Config.Resolution, Config.Resolution);
        var dtype = Precision.DType();
        if (img.dtype != dtype) { img = img.to_type(dtype); flo = flo.to_type(dtype); }
        if (trace != null) { trace.ImageResized = VosTrace.Keep(img); trace.FlowResized = VosTrace.Keep(flo); }
        vos.StageDone?.Invoke("resize_in");
        var logits = vos.Forward(img, flo, trace);
        if (logits.dtype != image.dtype) logits = logits.to_type(image.dtype);
        return ResizeTo(logits, h, w).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>torch bicubic resize (A = -0.75, align_corners false); an exact copy when the size already matches.</summary>
    public static Tensor ResizeTo(Tensor x, long h, long w) =>
        x.shape[2] == h && x.shape[3] == w ? x.alias()
        : functional.interpolate(x, new[] { h, w }, mode: InterpolationMode.Bicubic, align_corners: false);

    /// <summary>Hard mask (B,H,W) int64 in {0,1}: argmax over the two classes (foreground where logit1 &gt; logit0).</summary>
    public static Tensor ToMask(Tensor logits) => logits.argmax(1);
}
