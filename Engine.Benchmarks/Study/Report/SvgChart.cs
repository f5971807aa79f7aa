using System.Globalization;
using System.Security;
using System.Text;

namespace NumLstm.Benchmarks.Study;

/// <summary>One series of a chart: points with an optional spread (a band on line charts, error bars on dot charts).
/// Color: an SVG colour for the series; null takes the palette's colour at the series' position.</summary>
public sealed record ChartSeries(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y, IReadOnlyList<double>? Low = null, IReadOnlyList<double>? High = null,
    string? Color = null);

/// <summary>
/// Hand-written SVG plots, no packages: a line chart on a numeric x axis (mean lines with shaded bands or error bars)
/// and a dot chart on a categorical x axis (one dot with error bars per series and category). Non-finite points are skipped.
/// </summary>
public static class SvgChart
{
    /// <summary>Tableau 10, colour-blind friendly enough and familiar from matplotlib.</summary>
    public static readonly string[] Palette = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf" };

    private const int Width = 860, Height = 440, Left = 70, Right = 230, Top = 40, Bottom = 60;

    /// <summary>Lines over a numeric x axis; Low/High draw a shaded band (bands = true) or error bars.</summary>
    public static string Lines(string title, string xLabel, string yLabel, IReadOnlyList<ChartSeries> series, bool bands = true, bool logX = false,
        double? referenceY = null, string? referenceLabel = null)
    {
        var finiteX = series.SelectMany(s => s.X).Where(double.IsFinite).Where(x => !logX || x > 0).ToList();
        if (finiteX.Count == 0) finiteX.Add(logX ? 1 : 0);
        double xMin = finiteX.Min(), xMax = finiteX.Max();
        if (logX) { xMin /= 1.4; xMax *= 1.4; }
        bool integerX = !logX && finiteX.All(x => x == Math.Round(x));
        Func<double, double> tx = logX ? Math.Log10 : x => x;
        (double yMin, double yMax) = YRange(series, referenceY);
        var svg = new Canvas(title, xLabel, yLabel, tx(xMin), tx(xMax), yMin, yMax);
        if (logX) svg.LogXTicks(xMin, xMax); else svg.XTicks(integerX);
        svg.YTicks();
        if (referenceY is double r) svg.Reference(r, referenceLabel);
        for (int k = 0; k < series.Count; k++)
        {
            ChartSeries s = series[k];
            string color = s.Color ?? Palette[k % Palette.Length];
            var points = Enumerable.Range(0, s.X.Count).Where(j => double.IsFinite(s.X[j]) && double.IsFinite(s.Y[j]) && (!logX || s.X[j] > 0)).ToList();
            if (s.Low is not null && s.High is not null)
            {
                var spread = points.Where(j => double.IsFinite(s.Low[j]) && double.IsFinite(s.High[j])).ToList();
                if (bands && spread.Count > 1)
                {
                    IEnumerable<string> upper = spread.Select(j => svg.Point(tx(s.X[j]), s.High[j]));
                    IEnumerable<string> lower = spread.AsEnumerable().Reverse().Select(j => svg.Point(tx(s.X[j]), s.Low[j]));
                    svg.Raw($"<polygon points=\"{string.Join(" ", upper.Concat(lower))}\" fill=\"{color}\" fill-opacity=\"0.15\" stroke=\"none\"/>");
                }
                else
                {
                    foreach (int j in spread) svg.ErrorBar(tx(s.X[j]), s.Low[j], s.High[j], color);
                }
            }
            if (points.Count > 1)
                svg.Raw($"<polyline points=\"{string.Join(" ", points.Select(j => svg.Point(tx(s.X[j]), s.Y[j])))}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>");
            foreach (int j in points) svg.Dot(tx(s.X[j]), s.Y[j], color, 2.5);
            svg.Legend(k, s.Name, color);
        }
        return svg.Finish();
    }

    /// <summary>Dots with error bars over categories; series are placed side by side within each category. X holds category indices.</summary>
    public static string Dots(string title, string yLabel, IReadOnlyList<string> categories, IReadOnlyList<ChartSeries> series,
        double? referenceY = null, string? referenceLabel = null, bool zeroBased = false)
    {
        (double yMin, double yMax) = YRange(series, referenceY);
        if (zeroBased) yMin = Math.Min(0, yMin);
        var svg = new Canvas(title, "", yLabel, -0.5, Math.Max(categories.Count, 1) - 0.5, yMin, yMax);
        svg.YTicks();
        svg.Categories(categories);
        if (referenceY is double r) svg.Reference(r, referenceLabel);
        double width = series.Count > 1 ? 0.7 / series.Count : 0;
        for (int k = 0; k < series.Count; k++)
        {
            ChartSeries s = series[k];
            string color = s.Color ?? Palette[k % Palette.Length];
            double offset = series.Count > 1 ? (k - (series.Count - 1) / 2.0) * width : 0;
            for (int j = 0; j < s.X.Count; j++)
            {
                if (!double.IsFinite(s.Y[j])) continue;
                double x = s.X[j] + offset;
                if (s.Low is not null && s.High is not null && double.IsFinite(s.Low[j]) && double.IsFinite(s.High[j])) svg.ErrorBar(x, s.Low[j], s.High[j], color);
                svg.Dot(x, s.Y[j], color, 4);
            }
            if (series.Count > 1 || s.Name.Length > 0) svg.Legend(k, s.Name, color);
        }
        return svg.Finish();
    }

    private static (double Min, double Max) YRange(IReadOnlyList<ChartSeries> series, double? reference)
    {
        var values = series.SelectMany(s => s.Y.Concat(s.Low ?? Array.Empty<double>()).Concat(s.High ?? Array.Empty<double>())).Where(double.IsFinite).ToList();
        if (reference is double r && double.IsFinite(r)) values.Add(r);
        if (values.Count == 0) return (0, 1);
        double min = values.Min(), max = values.Max();
        if (max - min < 1e-12) { min -= 0.5 * Math.Max(Math.Abs(min), 1e-3); max += 0.5 * Math.Max(Math.Abs(max), 1e-3); }
        double pad = 0.05 * (max - min);
        return (min - pad, max + pad);
    }

    internal static string Escape(string text) => SecurityElement.Escape(text) ?? "";

    internal static string F(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);

    /// <summary>1, 2 or 5 times a power of ten, about <paramref name="count"/> steps over the range.</summary>
    internal static double NiceStep(double range, int count)
    {
        double raw = range / Math.Max(count, 1);
        double power = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double fraction = raw / power;
        return (fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10) * power;
    }

    /// <summary>
    /// The multiples k·step in [min, max], each computed from its k (repeated addition drifts: a tick at zero read
    /// "5.551E-17"), rounded to the step's decimals, with −0 as 0.
    /// </summary>
    internal static IEnumerable<double> Ticks(double min, double max, double step)
    {
        int decimals = Math.Clamp(-(int)Math.Floor(Math.Log10(step)) + 1, 0, 15);
        for (long k = (long)Math.Ceiling(min / step - 1e-9); k * step <= max + 1e-9 * step; k++)
            yield return Math.Round(k * step, decimals) + 0.0;
    }

    private sealed class Canvas
    {
        private readonly StringBuilder body = new();
        private readonly double xMin, xMax, yMin, yMax;
        private const int PlotWidth = Width - Left - Right, PlotHeight = Height - Top - Bottom;

        public Canvas(string title, string xLabel, string yLabel, double xMin, double xMax, double yMin, double yMax)
        {
            if (xMax - xMin < 1e-12) { xMin -= 0.5; xMax += 0.5; }
            (this.xMin, this.xMax, this.yMin, this.yMax) = (xMin, xMax, yMin, yMax);
            body.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
            body.Append(CultureInfo.InvariantCulture, $"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/>\n");
            body.Append(CultureInfo.InvariantCulture, $"<text x=\"{Width / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">{Escape(title)}</text>\n");
            body.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Left}\" y=\"{Top}\" width=\"{PlotWidth}\" height=\"{PlotHeight}\" fill=\"none\" stroke=\"#444\"/>\n");
            if (xLabel.Length > 0)
                body.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left + PlotWidth / 2}\" y=\"{Height - 14}\" text-anchor=\"middle\">{Escape(xLabel)}</text>\n");
            body.Append(CultureInfo.InvariantCulture, $"<text x=\"16\" y=\"{Top + PlotHeight / 2}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {Top + PlotHeight / 2})\">{Escape(yLabel)}</text>\n");
        }

        public double Sx(double x) => Left + (x - xMin) / (xMax - xMin) * PlotWidth;
        public double Sy(double y) => Top + PlotHeight - (y - yMin) / (yMax - yMin) * PlotHeight;
        public string Point(double x, double y) => $"{F(Sx(x))},{F(Sy(y))}";

        public void Raw(string element) => body.Append(element).Append('\n');

        public void XTicks(bool integers)
        {
            double step = Math.Max(NiceStep(xMax - xMin, 8), integers ? 1 : 1e-12);
            foreach (double x in Ticks(xMin, xMax, step))
            {
                Raw($"<line x1=\"{F(Sx(x))}\" y1=\"{Top + PlotHeight}\" x2=\"{F(Sx(x))}\" y2=\"{Top + PlotHeight + 5}\" stroke=\"#444\"/>");
                Raw($"<text x=\"{F(Sx(x))}\" y=\"{Top + PlotHeight + 18}\" text-anchor=\"middle\">{F(x)}</text>");
            }
        }

        public void LogXTicks(double min, double max)
        {
            foreach (double x in Enumerable.Range(-8, 12).SelectMany(e => new[] { 1.0, 2.0, 3.0, 5.0 }.Select(m => m * Math.Pow(10, e))))
            {
                if (x < min * 0.999 || x > max * 1.001) continue;
                double sx = Sx(Math.Log10(x));
                Raw($"<line x1=\"{F(sx)}\" y1=\"{Top + PlotHeight}\" x2=\"{F(sx)}\" y2=\"{Top + PlotHeight + 5}\" stroke=\"#444\"/>");
                Raw($"<text x=\"{F(sx)}\" y=\"{Top + PlotHeight + 18}\" text-anchor=\"middle\">{x.ToString("0.#####", CultureInfo.InvariantCulture)}</text>");
            }
        }

        public void YTicks()
        {
            double step = Math.Max(NiceStep(yMax - yMin, 6), 1e-12);
            foreach (double y in Ticks(yMin, yMax, step))
            {
                Raw($"<line x1=\"{Left}\" y1=\"{F(Sy(y))}\" x2=\"{Left + PlotWidth}\" y2=\"{F(Sy(y))}\" stroke=\"#ddd\"/>");
                Raw($"<text x=\"{Left - 6}\" y=\"{F(Sy(y) + 4)}\" text-anchor=\"end\">{Escape(y.ToString("G4", CultureInfo.InvariantCulture))}</text>");
            }
        }

        public void Categories(IReadOnlyList<string> categories)
        {
            for (int k = 0; k < categories.Count; k++)
            {
                double x = Sx(k);
                Raw($"<text x=\"{F(x)}\" y=\"{Top + PlotHeight + 14}\" text-anchor=\"end\" font-size=\"11\" transform=\"rotate(-20 {F(x)} {Top + PlotHeight + 14})\">{Escape(categories[k])}</text>");
                if (k > 0) Raw($"<line x1=\"{F(Sx(k - 0.5))}\" y1=\"{Top}\" x2=\"{F(Sx(k - 0.5))}\" y2=\"{Top + PlotHeight}\" stroke=\"#eee\"/>");
            }
        }

        public void Reference(double y, string? label)
        {
            if (!double.IsFinite(y)) return;
            Raw($"<line x1=\"{Left}\" y1=\"{F(Sy(y))}\" x2=\"{Left + PlotWidth}\" y2=\"{F(Sy(y))}\" stroke=\"#666\" stroke-dasharray=\"6 4\"/>");
            if (label is not null) Raw($"<text x=\"{Left + PlotWidth - 4}\" y=\"{F(Sy(y) - 4)}\" text-anchor=\"end\" fill=\"#666\" font-size=\"11\">{Escape(label)}</text>");
        }

        public void ErrorBar(double x, double low, double high, string color)
        {
            double sx = Sx(x);
            Raw($"<line x1=\"{F(sx)}\" y1=\"{F(Sy(low))}\" x2=\"{F(sx)}\" y2=\"{F(Sy(high))}\" stroke=\"{color}\" stroke-width=\"1.5\"/>");
            Raw($"<line x1=\"{F(sx - 4)}\" y1=\"{F(Sy(low))}\" x2=\"{F(sx + 4)}\" y2=\"{F(Sy(low))}\" stroke=\"{color}\" stroke-width=\"1.5\"/>");
            Raw($"<line x1=\"{F(sx - 4)}\" y1=\"{F(Sy(high))}\" x2=\"{F(sx + 4)}\" y2=\"{F(Sy(high))}\" stroke=\"{color}\" stroke-width=\"1.5\"/>");
        }

        public void Dot(double x, double y, string color, double radius) =>
            Raw($"<circle cx=\"{F(Sx(x))}\" cy=\"{F(Sy(y))}\" r=\"{F(radius)}\" fill=\"{color}\"/>");

        public void Legend(int index, string name, string color)
        {
            int y = Top + 8 + index * 18;
            int x = Width - Right + 14;
            Raw($"<rect x=\"{x}\" y=\"{y}\" width=\"12\" height=\"12\" fill=\"{color}\"/>");
            Raw($"<text x=\"{x + 18}\" y=\"{y + 10}\">{Escape(name)}</text>");
        }

        public string Finish()
        {
            body.Append("</svg>\n");
            return body.ToString();
        }
    }
}
