using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net;
using System.Text;

namespace GridAutomation.Core.Ledger
{
    /// <summary>
    /// One self-contained HTML file (polyglot XHTML: parses as XML and as HTML5; no script, no external resource): an
    /// inline SVG bar chart of cost per day per owner and consumer, and the table of totals. Every bar carries its
    /// values as data-* attributes (data-day, data-owner, data-consumer, data-cost) so a reader or a test can check them.
    /// </summary>
    public static class HtmlUsageReport
    {
        private static readonly string[] Palette = { "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac" };

        public static void Write(TextWriter w, IReadOnlyList<UsageCharge> charges, IReadOnlyList<GridUsage> totals, string title, DateTimeOffset generated)
        {
            var bars = charges
                .GroupBy(c => (Day: c.Start.UtcDateTime.Date, Owner: c.Interval.DatacenterOwner ?? "", Consumer: c.Interval.WorkloadOwner ?? ""))
                .Select(g => (g.Key.Day, g.Key.Owner, g.Key.Consumer, Cost: Math.Round(g.Sum(c => c.Cost), 6)))
                .OrderBy(b => b.Day).ThenBy(b => b.Owner, StringComparer.OrdinalIgnoreCase).ThenBy(b => b.Consumer, StringComparer.OrdinalIgnoreCase).ToList();
            var pairs = bars.Select(b => (b.Owner, b.Consumer)).Distinct().ToList();
            var days = bars.Select(b => b.Day).Distinct().OrderBy(d => d).ToList();
            decimal max = bars.Count == 0 ? 0 : bars.Max(b => b.Cost);
            const int plotHeight = 240, left = 70, top = 20, barWidth = 18, gap = 10;
            int groupWidth = Math.Max(1, pairs.Count) * barWidth + gap;
            int width = left + Math.Max(1, days.Count) * groupWidth + 20;
            int height = top + plotHeight + 60;

            var sb = new StringBuilder();
            sb.Append("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n<title>").Append(E(title)).Append("</title>\n");
            sb.Append("<style>body{font-family:sans-serif;margin:24px;color:#222;background:#fff}table{border-collapse:collapse;margin-top:16px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#eee}td.t,th.t{text-align:left}tr.total td{font-weight:bold}.legend span{display:inline-block;margin-right:16px}.sw{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}</style>\n");
            sb.Append("</head>\n<body>\n<h1>").Append(E(title)).Append("</h1>\n<p>Generated ").Append(E(FocusExport.Time(generated))).Append(". Cost per day per owner (who is owed) and consumer (who owes).</p>\n");

            sb.Append("<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"cost-chart\" role=\"img\" width=\"").Append(width).Append("\" height=\"").Append(height)
              .Append("\" viewBox=\"0 0 ").Append(width).Append(' ').Append(height).Append("\">\n<title>Cost per day per owner and consumer</title>\n");
            sb.Append("<line x1=\"").Append(left).Append("\" y1=\"").Append(top + plotHeight).Append("\" x2=\"").Append(width - 10).Append("\" y2=\"").Append(top + plotHeight).Append("\" stroke=\"#333\" />\n");
            sb.Append("<text x=\"4\" y=\"").Append(top + 10).Append("\" font-size=\"11\">").Append(E(Num(max))).Append("</text>\n");
            for (int d = 0; d < days.Count; d++)
            {
                int gx = left + d * groupWidth;
                foreach (var b in bars.Where(x => x.Day == days[d]))
                {
                    int p = pairs.IndexOf((b.Owner, b.Consumer));
                    double h = max == 0 ? 0 : (double)(b.Cost / max) * plotHeight;
                    if (b.Cost > 0 && h < 1) h = 1;
                    sb.Append("<rect class=\"bar\" x=\"").Append(gx + p * barWidth).Append("\" y=\"").Append(F(top + plotHeight - h)).Append("\" width=\"").Append(barWidth - 2)
                      .Append("\" height=\"").Append(F(h)).Append("\" fill=\"").Append(Palette[p % Palette.Length])
                      .Append("\" data-day=\"").Append(b.Day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)).Append("\" data-owner=\"").Append(E(b.Owner))
                      .Append("\" data-consumer=\"").Append(E(b.Consumer)).Append("\" data-cost=\"").Append(Num(b.Cost)).Append("\"><title>")
                      .Append(E($"{b.Day:yyyy-MM-dd} {b.Owner} \u2190 {b.Consumer}: {Num(b.Cost)}")).Append("</title></rect>\n");
                }
                sb.Append("<text x=\"").Append(gx).Append("\" y=\"").Append(top + plotHeight + 16).Append("\" font-size=\"11\">").Append(days[d].ToString("MM-dd", CultureInfo.InvariantCulture)).Append("</text>\n");
            }
            sb.Append("</svg>\n<div class=\"legend\">");
            for (int p = 0; p < pairs.Count; p++)
                sb.Append("<span><i class=\"sw\" style=\"background:").Append(Palette[p % Palette.Length]).Append("\"></i>").Append(E(pairs[p].Owner)).Append(" \u2190 ").Append(E(pairs[p].Consumer)).Append("</span>");
            sb.Append("</div>\n");

            sb.Append("<table id=\"totals\">\n<thead><tr><th class=\"t\">Owner</th><th class=\"t\">Consumer</th><th>vCPU-hours</th><th>GB-hours</th><th>Billed hours</th><th>Cost</th><th class=\"t\">Currency</th></tr></thead>\n<tbody>\n");
            foreach (var t in totals)
            {
                sb.Append(t.IsTotal ? "<tr class=\"total\"" : "<tr").Append(" data-owner=\"").Append(E(t.Owner ?? "")).Append("\" data-consumer=\"").Append(E(t.Consumer ?? "")).Append("\" data-cost=\"").Append(Num(t.Cost)).Append("\">");
                sb.Append("<td class=\"t\">").Append(E(t.IsTotal ? "Total" : t.Owner ?? "")).Append("</td><td class=\"t\">").Append(E(t.IsTotal ? "" : t.Consumer ?? "")).Append("</td>");
                sb.Append("<td>").Append(F(t.VCpuHours)).Append("</td><td>").Append(F(t.GBHours)).Append("</td><td>").Append(F(t.BilledHours)).Append("</td><td>").Append(Num(t.Cost)).Append("</td><td class=\"t\">").Append(E(t.Currency ?? "")).Append("</td></tr>\n");
            }
            sb.Append("</tbody>\n</table>\n</body>\n</html>\n");
            w.Write(sb.ToString());
        }

        private static string E(string s) => WebUtility.HtmlEncode(s).Replace("&#39;", "&#x27;");
        private static string F(double d) => d.ToString("0.###", CultureInfo.InvariantCulture);
        private static string Num(decimal d) => Math.Round(d, 6).ToString("0.######", CultureInfo.InvariantCulture);
    }
}
