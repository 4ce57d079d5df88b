//! Hand-written SVG charts: lines over evenly spaced categories (throughput
//! against concurrency, cost against stored sessions) and grouped bars on a
//! log scale (latency percentiles). Each chart carries a caption naming the
//! machine, the commit and the baseline, so a copied image keeps its context.

use std::fmt::Write as _;

const WIDTH: f64 = 980.0;
const HEIGHT: f64 = 500.0;
const LEFT: f64 = 86.0;
const RIGHT: f64 = 320.0;
const TOP: f64 = 48.0;
const BOTTOM: f64 = 132.0;
const COLOURS: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// How the values are drawn.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// One line per series over the categories; y from zero, linear.
    Lines,
    /// One bar per series in each category; y logarithmic.
    LogBars,
}

/// A named series: one value per category (`None` where it has none).
#[derive(Clone, Debug)]
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) values: Vec<Option<f64>>,
}

/// A chart ready to draw.
#[derive(Clone, Debug)]
pub(crate) struct Chart {
    /// File name under `target/bench/`.
    pub(crate) file: String,
    pub(crate) title: String,
    pub(crate) kind: Kind,
    pub(crate) x_label: String,
    pub(crate) y_label: String,
    pub(crate) categories: Vec<String>,
    pub(crate) series: Vec<Series>,
    /// What the values are measured against, for the caption.
    pub(crate) baseline: String,
}

impl Chart {
    /// The chart as an SVG document; `context` (machine and commit) goes
    /// into the caption beside the baseline.
    pub(crate) fn svg(&self, context: &str) -> String {
        let mut svg = String::new();
        let _ = write!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
        );
        let _ = write!(
            svg,
            r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
        );
        text(&mut svg, WIDTH / 2.0, 24.0, "middle", 16.0, &self.title);
        let values: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied())
            .filter(|v| v.is_finite() && *v > 0.0)
            .collect();
        let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
        if values.is_empty() || self.categories.is_empty() {
            text(
                &mut svg,
                WIDTH / 2.0,
                HEIGHT / 2.0,
                "middle",
                14.0,
                "no data in this run",
            );
        } else {
            let scale = Scale::new(self.kind, &values);
            let y_of = |v: f64| TOP + plot_h * (1.0 - scale.fraction(v));
            for (tick, label) in scale.ticks() {
                let y = y_of(tick);
                let _ = write!(
                    svg,
                    r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/>"##,
                    LEFT + plot_w
                );
                text(&mut svg, LEFT - 6.0, y + 4.0, "end", 11.0, &label);
            }
            let slot = plot_w / self.categories.len() as f64;
            // Labels wider than their slot (at about 7 px a character) are
            // slanted so that neighbours do not overlap.
            let slanted = self
                .categories
                .iter()
                .any(|c| c.chars().count() as f64 * 7.0 > slot);
            for (i, category) in self.categories.iter().enumerate() {
                let x = LEFT + slot * (i as f64 + 0.5);
                let y = TOP + plot_h + 18.0;
                if slanted {
                    let _ = write!(
                        svg,
                        r#"<text transform="translate({x:.1} {y:.1}) rotate(-18)" text-anchor="end" font-size="11">{}</text>"#,
                        escape(category)
                    );
                } else {
                    text(&mut svg, x, y, "middle", 12.0, category);
                }
            }
            match self.kind {
                Kind::Lines => self.draw_lines(&mut svg, slot, &y_of),
                Kind::LogBars => self.draw_bars(&mut svg, slot, &y_of, TOP + plot_h),
            }
            self.draw_legend(&mut svg);
        }
        let _ = write!(
            svg,
            r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#444"/>"##
        );
        text(
            &mut svg,
            LEFT + plot_w / 2.0,
            TOP + plot_h + 80.0,
            "middle",
            12.0,
            &self.x_label,
        );
        let _ = write!(
            svg,
            r#"<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle" font-size="12">{}</text>"#,
            TOP + plot_h / 2.0,
            escape(&self.y_label)
        );
        text(
            &mut svg,
            12.0,
            HEIGHT - 28.0,
            "start",
            11.0,
            &format!("baseline: {}", self.baseline),
        );
        text(&mut svg, 12.0, HEIGHT - 12.0, "start", 11.0, context);
        svg.push_str("</svg>\n");
        svg
    }

    fn draw_lines(&self, svg: &mut String, slot: f64, y_of: &dyn Fn(f64) -> f64) {
        for (n, series) in self.series.iter().enumerate() {
            let colour = COLOURS[n % COLOURS.len()];
            let points: Vec<(f64, f64)> = series
                .values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    let v = (*v)?;
                    v.is_finite()
                        .then(|| (LEFT + slot * (i as f64 + 0.5), y_of(v)))
                })
                .collect();
            let path: Vec<String> = points
                .iter()
                .map(|(x, y)| format!("{x:.1},{y:.1}"))
                .collect();
            let dash = if series.name.contains("baseline") {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            };
            let _ = write!(
                svg,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>"#,
                path.join(" ")
            );
            for (x, y) in points {
                let _ = write!(
                    svg,
                    r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{colour}"/>"#
                );
            }
        }
    }

    fn draw_bars(&self, svg: &mut String, slot: f64, y_of: &dyn Fn(f64) -> f64, floor: f64) {
        let width = slot * 0.8 / self.series.len().max(1) as f64;
        for (n, series) in self.series.iter().enumerate() {
            let colour = COLOURS[n % COLOURS.len()];
            for (i, value) in series.values.iter().enumerate() {
                let Some(v) = value.filter(|v| v.is_finite() && *v > 0.0) else {
                    continue;
                };
                let x = LEFT + slot * (i as f64 + 0.1) + width * n as f64;
                let y = y_of(v);
                let _ = write!(
                    svg,
                    r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{colour}"><title>{}: {}</title></rect>"#,
                    width * 0.92,
                    (floor - y).max(0.0),
                    escape(&series.name),
                    short(v)
                );
            }
        }
    }

    fn draw_legend(&self, svg: &mut String) {
        let x = WIDTH - RIGHT + 16.0;
        for (n, series) in self.series.iter().enumerate() {
            let y = TOP + 8.0 + 18.0 * n as f64;
            let colour = COLOURS[n % COLOURS.len()];
            let _ = write!(
                svg,
                r#"<rect x="{x}" y="{:.1}" width="12" height="12" fill="{colour}"/>"#,
                y - 10.0
            );
            text(svg, x + 18.0, y, "start", 12.0, &series.name);
        }
    }
}

/// Maps values to the plot's height.
struct Scale {
    kind: Kind,
    low: f64,
    high: f64,
}

impl Scale {
    fn new(kind: Kind, values: &[f64]) -> Self {
        let max = values.iter().copied().fold(f64::MIN, f64::max);
        let min = values.iter().copied().fold(f64::MAX, f64::min);
        match kind {
            Kind::Lines => Self {
                kind,
                low: 0.0,
                high: nice_ceiling(max * 1.05),
            },
            Kind::LogBars => Self {
                kind,
                low: 10f64.powf(min.log10().floor()),
                high: 10f64.powf(max.log10().ceil().max(min.log10().floor() + 1.0)),
            },
        }
    }

    fn fraction(&self, v: f64) -> f64 {
        match self.kind {
            Kind::Lines => (v - self.low) / (self.high - self.low),
            Kind::LogBars => {
                (v.log10() - self.low.log10()) / (self.high.log10() - self.low.log10())
            }
        }
    }

    fn ticks(&self) -> Vec<(f64, String)> {
        match self.kind {
            Kind::Lines => (0..=5)
                .map(|i| {
                    let v = self.low + (self.high - self.low) * f64::from(i) / 5.0;
                    (v, short(v))
                })
                .collect(),
            Kind::LogBars => {
                let mut ticks = Vec::new();
                let mut v = self.low;
                while v <= self.high * 1.000_001 {
                    ticks.push((v, short(v)));
                    v *= 10.0;
                }
                ticks
            }
        }
    }
}

/// The smallest 1, 2 or 5 times a power of ten at or above `v`.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * power)
}

/// A compact number: 1.2M, 35k, 870, 4.2, 0.35.
pub(crate) fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.3}M", v / 1e6).replace(".000M", "M")
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3).replace(".0k", "k")
    } else if a >= 10.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn text(svg: &mut String, x: f64, y: f64, anchor: &str, size: f64, content: &str) {
    let _ = write!(
        svg,
        r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}" font-size="{size}">{}</text>"#,
        escape(content)
    );
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(kind: Kind) -> Chart {
        Chart {
            file: "t.svg".into(),
            title: "ops <&> more".into(),
            kind,
            x_label: "concurrency".into(),
            y_label: "ops/s".into(),
            categories: vec!["1".into(), "16".into(), "64".into()],
            series: vec![
                Series {
                    name: "a".into(),
                    values: vec![Some(10.0), Some(120.0), None],
                },
                Series {
                    name: "b baseline".into(),
                    values: vec![Some(5.0), Some(50.0), Some(9000.0)],
                },
            ],
            baseline: "redis-benchmark".into(),
        }
    }

    #[test]
    fn charts_are_well_formed_and_escape_text() {
        for kind in [Kind::Lines, Kind::LogBars] {
            let svg = chart(kind).svg("2 cores, commit abc");
            assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
            assert!(svg.contains("ops &lt;&amp;&gt; more"));
            assert!(svg.contains("commit abc") && svg.contains("baseline: redis-benchmark"));
            assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
        }
        let mut empty = chart(Kind::Lines);
        empty.series.clear();
        assert!(empty.svg("").contains("no data"));
    }

    #[test]
    fn numbers_and_scales_read_well() {
        assert_eq!(short(1_234_567.0), "1.235M");
        assert_eq!(short(35_400.0), "35k");
        assert_eq!(short(2_000.0), "2k");
        assert_eq!(short(870.2), "870");
        assert_eq!(short(0.345), "0.34");
        assert!((nice_ceiling(730.0) - 1000.0).abs() < 1e-9);
        assert!((nice_ceiling(210.0) - 250.0).abs() < 1e-9);
        let scale = Scale::new(Kind::LogBars, &[3.0, 4000.0]);
        assert!((scale.low - 1.0).abs() < 1e-9 && (scale.high - 10_000.0).abs() < 1e-6);
        assert_eq!(scale.ticks().len(), 5);
    }
}
