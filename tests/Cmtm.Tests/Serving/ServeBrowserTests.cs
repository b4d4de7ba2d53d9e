using System.IO.Compression;
using Cmtm.Tests.Cli;
using Cmtm.Tests.Support;
using OpenCvSharp;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;

namespace Cmtm.Tests.Serving;

/// <summary>
/// `cmtm serve` in a real browser: Debian's chromium through chromedriver (installed by
/// `scripts/setup.sh --browser`, which ./test runs) uploads 10 DAVIS frames encoded to mp4, waits for the job, checks
/// that the viewer's overlay and cut-out images equal what `cmtm segment` writes for the same video (bytes and
/// decoded pixels) and downloads the masks zip. With CMTM_SERVE_SCREENSHOTS=DIR it also writes the README's two
/// screenshots (serve-progress.png, serve-viewer.png) there.
/// </summary>
[Collection("Console")]
[Trait("Category", "Slow")] // over ~3 s: left out of ./test --fast
public class ServeBrowserTests
{
    private const int Frames = 10, ShownFrame = 5;

    [Fact]
    public async Task UploadProgressViewerAndDownloadMatchTheCli()
    {
        using var d = new Shared.TempDir();
        var video = EncodeClip(Shared.DataPath("davis16-train", "JPEGImages", "480p", "bear"), Frames, d.File("bear.mp4"));

        // the reference: `cmtm segment` on the same video with the shipped model, as the page's jobs run it
        var cliOut = d.File("cli");
        var (code, stdout, stderr) = CliHarness.Run("segment", video, "--out", cliOut, "--overlay", "--cutout", "--background", "blur", "--threads", "2");
        Assert.True(code == 0, stderr + stdout);

        await using var server = await TestServer.StartAsync();
        var downloads = Directory.CreateDirectory(d.File("downloads")).FullName;
        using var driver = StartChromium(downloads);
        var wait = new PageWait(driver, () => System.Text.Json.JsonSerializer.Serialize(server.Host.Jobs.List(), TestServer.Json));
        driver.Navigate().GoToUrl(server.Host.Url);
        wait.Until(dr => dr.FindElement(By.Id("model")).Text.EndsWith(".safetensors"));
        driver.FindElement(By.Id("file")).SendKeys(video);
        driver.FindElement(By.Id("submit")).Click();

        // live progress pushed by the server
        var shots = Environment.GetEnvironmentVariable("CMTM_SERVE_SCREENSHOTS");
        wait.Until(dr => dr.FindElement(By.Id("run-text")).Text.Contains("frames/s") || dr.FindElement(By.Id("viewer")).Displayed);
        if (!driver.FindElement(By.Id("viewer")).Displayed)
        {
            Assert.Matches(@"^\d+ / \d+ frames · \d+\.\d\d frames/s", driver.FindElement(By.Id("run-text")).Text);
            if (shots != null) Screenshot(driver, Path.Combine(shots, "serve-progress.png"));
        }

        // the viewer opens when the job is done; go to one frame and compare what it shows with the CLI's files
        wait.Until(dr => dr.FindElement(By.Id("viewer")).Displayed && ImagesLoaded(dr));
        var id = driver.FindElement(By.Id("viewer")).GetDomAttribute("data-job")!;
        var job = await server.JobAsync(id);
        Assert.Equal((Cmtm.Serving.JobState.Done, Frames), (job.State, job.Frames));
        ((IJavaScriptExecutor)driver).ExecuteScript($"const s = document.getElementById('scrub'); s.value = {ShownFrame}; s.dispatchEvent(new Event('input'));");
        wait.Until(dr => dr.FindElement(By.Id("viewer")).GetDomAttribute("data-frame") == ShownFrame.ToString() && ImagesLoaded(dr));
        var stem = $"{ShownFrame:00000}";
        Assert.Equal(File.ReadAllBytes(Path.Combine(cliOut, "overlay", stem + ".jpg")), FetchShown(driver, "img-overlay"));
        Assert.Equal(File.ReadAllBytes(Path.Combine(cliOut, "cutout", stem + ".png")), FetchShown(driver, "img-cutout"));
        // decoded by the browser: the overlay within JPEG decoder rounding, the cut-out's alpha exactly (and its colour where opaque)
        var (w, h, overlayPx) = CanvasPixels(driver, "img-overlay");
        using (var cli = Cv2.ImRead(Path.Combine(cliOut, "overlay", stem + ".jpg")))
        {
            Assert.Equal((cli.Cols, cli.Rows), (w, h));
            double diff = 0;
            for (var y = 0; y < h; y++) for (var x = 0; x < w; x++)
            {
                var bgr = cli.At<Vec3b>(y, x);
                var k = 4 * (y * w + x);
                diff += Math.Abs(overlayPx[k] - bgr.Item2) + Math.Abs(overlayPx[k + 1] - bgr.Item1) + Math.Abs(overlayPx[k + 2] - bgr.Item0);
            }
            Assert.True(diff / (3.0 * w * h) < 1.0, $"overlay differs from the CLI's by {diff / (3.0 * w * h):0.00} per channel on average");
        }
        var (_, _, cutPx) = CanvasPixels(driver, "img-cutout");
        var cliCut = Cmtm.IO.PngCodec.Read(Path.Combine(cliOut, "cutout", stem + ".png"));
        for (var p = 0; p < w * h; p++)
        {
            Assert.Equal(cliCut.Samples[4 * p + 3], cutPx[4 * p + 3]);
            if (cutPx[4 * p + 3] == 255) for (var c = 0; c < 3; c++) Assert.Equal(cliCut.Samples[4 * p + c], cutPx[4 * p + c]);
        }
        if (shots != null) Screenshot(driver, Path.Combine(shots, "serve-viewer.png"));

        // the masks zip, downloaded by the browser: the CLI's masks byte for byte
        driver.FindElement(By.Id("dl-masks")).Click();
        var zipPath = Path.Combine(downloads, $"{id}-masks.zip");
        wait.Until(_ => File.Exists(zipPath) && !Directory.EnumerateFiles(downloads, "*.crdownload").Any());
        using var zip = ZipFile.OpenRead(zipPath);
        var cliMasks = Directory.GetFiles(cliOut, "*.png").Order(StringComparer.Ordinal).ToList();
        Assert.Equal(cliMasks.Select(Path.GetFileName), zip.Entries.Select(e => e.FullName));
        foreach (var e in zip.Entries)
        {
            using var s = e.Open();
            using var m = new MemoryStream();
            s.CopyTo(m);
            Assert.Equal(File.ReadAllBytes(Path.Combine(cliOut, e.FullName)), m.ToArray());
        }

        if (shots == null) return;
        // for the README: a longer job (the 50-frame sample) while it runs, then cancelled from the page
        ((IJavaScriptExecutor)driver).ExecuteScript("document.getElementById('sample').selectedIndex = 1;");
        driver.FindElement(By.Id("submit")).Click();
        wait.Until(dr => dr.FindElement(By.Id("run-text")).Text.Contains("frames/s"));
        Screenshot(driver, Path.Combine(shots, "serve-progress.png"));
        driver.FindElement(By.Id("cancel-run")).Click();
        wait.Until(dr => dr.FindElement(By.Id("jobs")).Text.Contains("Cancelled"));
    }

    /// <summary>The first <paramref name="frames"/> JPEGs of a folder as an mp4 (mp4v).</summary>
    internal static string EncodeClip(string folder, int frames, string path)
    {
        var files = Directory.GetFiles(folder, "*.jpg").Order(StringComparer.Ordinal).Take(frames).ToList();
        using var first = Cv2.ImRead(files[0]);
        using var writer = new VideoWriter(path, FourCC.MP4V, 24, first.Size());
        Assert.True(writer.IsOpened(), "OpenCV cannot write mp4v");
        foreach (var f in files)
        {
            using var m = Cv2.ImRead(f);
            writer.Write(m);
        }
        writer.Release();
        return path;
    }

    private static ChromeDriver StartChromium(string downloads)
    {
        foreach (var exe in new[] { "/usr/bin/chromium", "/usr/bin/chromedriver" })
            Assert.True(File.Exists(exe), $"{exe} missing: run scripts/setup.sh --browser (./test does) to install Debian's chromium and chromium-driver");
        var service = ChromeDriverService.CreateDefaultService("/usr/bin", "chromedriver");
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        var options = new ChromeOptions { BinaryLocation = "/usr/bin/chromium" };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000", "--hide-scrollbars");
        options.AddUserProfilePreference("download.default_directory", downloads);
        options.AddUserProfilePreference("download.prompt_for_download", false);
        return new ChromeDriver(service, options, TimeSpan.FromSeconds(90));
    }

    /// <summary>Polls a condition on the page for up to 90 s; a timeout names what the page showed.</summary>
    private sealed class PageWait(IWebDriver driver, Func<string> serverState)
    {
        public void Until(Func<IWebDriver, bool> condition)
        {
            var end = DateTime.UtcNow.AddSeconds(90);
            while (true)
            {
                try { if (condition(driver)) return; } catch (WebDriverException) { }
                if (DateTime.UtcNow > end)
                    throw new TimeoutException("page after 90 s: " + string.Join(" | ", new[] { "message", "run-text", "jobs" }.Select(i => $"#{i} '{Try(() => driver.FindElement(By.Id(i)).Text)}'")) + "; server: " + serverState());
                Thread.Sleep(100);
            }
        }

        private static string Try(Func<string> f) { try { return f(); } catch (Exception e) { return e.GetType().Name; } }
    }

    private static bool ImagesLoaded(IWebDriver driver) => (bool)((IJavaScriptExecutor)driver).ExecuteScript(
        "return ['img-original','img-overlay','img-cutout'].every(i => { const e = document.getElementById(i); return e.src && e.complete && e.naturalWidth > 0; });")!;

    /// <summary>The bytes the browser gets for an image it shows (fetched again from its own URL).</summary>
    private static byte[] FetchShown(IWebDriver driver, string imgId)
    {
        var b64 = (string)((IJavaScriptExecutor)driver).ExecuteAsyncScript($$"""
            const done = arguments[arguments.length - 1];
            fetch(document.getElementById('{{imgId}}').currentSrc).then(r => r.arrayBuffer()).then(buf => {
              let s = ''; const a = new Uint8Array(buf);
              for (let i = 0; i < a.length; i++) s += String.fromCharCode(a[i]);
              done(btoa(s));
            });
            """)!;
        return Convert.FromBase64String(b64);
    }

    /// <summary>The RGBA pixels of an image as the browser decoded it (drawn on a canvas at its natural size).</summary>
    private static (int W, int H, byte[] Rgba) CanvasPixels(IWebDriver driver, string imgId)
    {
        var result = (IReadOnlyCollection<object>)((IJavaScriptExecutor)driver).ExecuteScript($$"""
            const img = document.getElementById('{{imgId}}');
            const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
            const g = c.getContext('2d', { colorSpace: 'srgb' }); g.drawImage(img, 0, 0);
            const px = g.getImageData(0, 0, c.width, c.height).data;
            let s = ''; for (let i = 0; i < px.length; i++) s += String.fromCharCode(px[i]);
            return [c.width, c.height, btoa(s)];
            """)!;
        var a = result.ToArray();
        return (Convert.ToInt32(a[0]), Convert.ToInt32(a[1]), Convert.FromBase64String((string)a[2]));
    }

    /// <summary>A screenshot of the page, halved and written as a small PNG (for the README).</summary>
    private static void Screenshot(IWebDriver driver, string path)
    {
        var png = ((ITakesScreenshot)driver).GetScreenshot().AsByteArray;
        using var full = Cv2.ImDecode(png, ImreadModes.Color);
        using var small = new Mat();
        Cv2.Resize(full, small, new Size(full.Cols / 2, full.Rows / 2), interpolation: InterpolationFlags.Area);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        Cv2.ImWrite(path, small, new ImageEncodingParam(ImwriteFlags.PngCompression, 9));
    }
}
