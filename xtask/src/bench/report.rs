//! The report: a headline table of ratios to same-run baselines, one section
//! per part, the charts, and how loaded the machine was while each part ran.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::chart::Chart;
use super::machine::Machine;

/// One row of the headline table.
#[derive(Clone, Debug)]
pub(crate) struct Headline {
    /// The part and the operation, e.g. "server (local store)".
    pub(crate) area: String,
    pub(crate) what: String,
    /// Tessera's figure, formatted.
    pub(crate) value: String,
    /// The baseline's name and figure, formatted.
    pub(crate) baseline: String,
    /// Tessera over the baseline, formatted (`62%` for throughput, `1.8×`
    /// for a cost).
    pub(crate) ratio: String,
    pub(crate) target: String,
    /// Whether the target is met; `None` when there is no target.
    pub(crate) met: Option<bool>,
}

struct Section {
    part: String,
    title: String,
    body: String,
}

struct PartRun {
    part: String,
    load_start: f64,
    load_end: f64,
    seconds: f64,
    error: Option<String>,
}

/// The report being written.
pub(crate) struct Report {
    machine: Machine,
    quick: bool,
    parts: Vec<String>,
    headlines: Vec<Headline>,
    sections: Vec<Section>,
    charts: Vec<(String, Chart)>,
    runs: Vec<PartRun>,
    notes: Vec<String>,
}

impl Report {
    pub(crate) fn new(machine: Machine, quick: bool, parts: &[&str]) -> Self {
        Self {
            machine,
            quick,
            parts: parts.iter().map(|p| (*p).to_owned()).collect(),
            headlines: Vec::new(),
            sections: Vec::new(),
            charts: Vec::new(),
            runs: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub(crate) fn headline(&mut self, row: Headline) {
        self.headlines.push(row);
    }

    /// Adds a section of markdown for `part`.
    pub(crate) fn section(&mut self, part: &str, title: &str, body: String) {
        self.sections.push(Section {
            part: part.to_owned(),
            title: title.to_owned(),
            body,
        });
    }

    /// Adds a chart, shown after `part`'s sections.
    pub(crate) fn chart(&mut self, part: &str, chart: Chart) {
        self.charts.retain(|(_, c)| c.file != chart.file);
        self.charts.push((part.to_owned(), chart));
    }

    /// A line for the "missing or below target" list at the top.
    pub(crate) fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    pub(crate) fn part_finished(
        &mut self,
        part: &str,
        load_start: f64,
        load_end: f64,
        seconds: f64,
        error: Option<anyhow::Error>,
    ) {
        self.runs.push(PartRun {
            part: part.to_owned(),
            load_start,
            load_end,
            seconds,
            error: error.map(|e| format!("{e:#}")),
        });
    }

    /// The caption every chart carries.
    fn context(&self) -> String {
        format!(
            "{}; commit {}; {} run",
            self.machine.describe(),
            self.machine.commit,
            if self.quick { "quick" } else { "full" }
        )
    }

    /// Writes `report.md` and the charts into `out`; returns the report's path.
    pub(crate) fn write(
        &self,
        out: &Path,
        total_seconds: f64,
        build_seconds: f64,
    ) -> Result<PathBuf> {
        let context = self.context();
        for (_, chart) in &self.charts {
            let path = out.join(&chart.file);
            std::fs::write(&path, chart.svg(&context))
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        let path = out.join("report.md");
        std::fs::write(&path, self.markdown(total_seconds, build_seconds))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    fn markdown(&self, total_seconds: f64, build_seconds: f64) -> String {
        let m = &self.machine;
        let mut md = String::from("# Tessera performance report\n\n");
        let _ = writeln!(
            md,
            "* **Machine:** {} cores (`nproc`), {} (`/proc/cpuinfo`), {} RAM, Linux {}",
            m.cores, m.cpu, m.memory, m.kernel
        );
        let _ = writeln!(md, "* **Commit:** {}", m.commit);
        let _ = writeln!(
            md,
            "* **Run:** `cargo xtask bench{}{}`, {} mode, {:.0} s in total, {:.0} s of it building",
            if self.quick { " --quick" } else { "" },
            if self.parts.len() == 8 {
                String::new()
            } else {
                format!(" {}", self.parts.join(" "))
            },
            if self.quick { "quick" } else { "full" },
            total_seconds,
            build_seconds
        );
        md.push_str(
            "* **Baselines:** every throughput below is also given as a ratio to a baseline \
             measured in this same run on this same machine: `redis-benchmark` for Redis, the \
             server's own `/healthz` for HTTP, raw `std::fs` loops for the local store, ring's \
             bare HMAC-SHA256 for SID verification. Client and server share the machine's cores, \
             so absolute figures understate a real deployment; compare the ratios.\n\n",
        );

        md.push_str("## Load while measuring\n\n1-minute load average from `/proc/loadavg` at the start and end of each part (the machine has ");
        let _ = writeln!(
            md,
            "{} cores; above that, benchmarks compete for CPU).\n",
            m.cores
        );
        md.push_str("| part | load at start | load at end | time | result |\n| --- | ---: | ---: | ---: | --- |\n");
        for run in &self.runs {
            let _ = writeln!(
                md,
                "| {} | {:.2} | {:.2} | {:.0} s | {} |",
                run.part,
                run.load_start,
                run.load_end,
                run.seconds,
                run.error.as_deref().map_or_else(
                    || "ok".to_owned(),
                    |e| format!("**failed:** {}", one_line(e))
                )
            );
        }

        md.push_str("\n## Headline\n\n");
        md.push_str(
            "| area | operation | Tessera | baseline (same run) | ratio | target | met |\n",
        );
        md.push_str("| --- | --- | ---: | --- | ---: | --- | --- |\n");
        for h in &self.headlines {
            let met = match h.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {met} |",
                h.area, h.what, h.value, h.baseline, h.ratio, h.target
            );
        }
        let misses: Vec<String> = self
            .headlines
            .iter()
            .filter(|h| h.met == Some(false))
            .map(|h| {
                format!(
                    "{} {}: {} ({} of {}); target {}",
                    h.area, h.what, h.value, h.ratio, h.baseline, h.target
                )
            })
            .chain(self.notes.iter().cloned())
            .collect();
        if !misses.is_empty() {
            md.push_str("\n**Missing or below target:**\n\n");
            for miss in misses {
                let _ = writeln!(md, "* {miss}");
            }
        }

        for part in &self.parts {
            for section in self.sections.iter().filter(|s| &s.part == part) {
                let _ = write!(md, "\n## {}\n\n{}", section.title, section.body);
                if !section.body.ends_with('\n') {
                    md.push('\n');
                }
            }
            for (_, chart) in self.charts.iter().filter(|(p, _)| p == part) {
                let _ = writeln!(md, "\n![{}]({})", chart.title, chart.file);
            }
        }
        md
    }
}

fn one_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().replace('|', "/")
}

/// A markdown table.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut md = format!("| {} |\n|", header.join(" | "));
    for (i, _) in header.iter().enumerate() {
        md.push_str(if i == 0 { " --- |" } else { " ---: |" });
    }
    md.push('\n');
    for row in rows {
        let _ = writeln!(md, "| {} |", row.join(" | "));
    }
    md
}

/// Operations per second, rounded for reading.
pub(crate) fn rate(ops_per_sec: f64) -> String {
    if !ops_per_sec.is_finite() {
        return "n/a".to_owned();
    }
    let rounded = ops_per_sec.round() as u64;
    let digits = rounded.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A latency in microseconds, in the unit that reads best, to three
/// significant digits: enough that a ratio of two printed latencies is the
/// ratio the report prints beside them.
pub(crate) fn latency(us: f64) -> String {
    if !us.is_finite() {
        "n/a".to_owned()
    } else if us >= 100_000.0 {
        format!("{:.0} ms", us / 1000.0)
    } else if us >= 10_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else if us >= 100.0 {
        format!("{us:.0} µs")
    } else if us >= 10.0 {
        format!("{us:.1} µs")
    } else {
        format!("{us:.2} µs")
    }
}

/// `value / baseline` as a percentage.
pub(crate) fn percent(value: f64, baseline: f64) -> String {
    if value.is_finite() && baseline.is_finite() && baseline > 0.0 {
        format!("{:.0}%", 100.0 * value / baseline)
    } else {
        "n/a".to_owned()
    }
}

/// `value / baseline` as a factor.
pub(crate) fn times(value: f64, baseline: f64) -> String {
    if value.is_finite() && baseline.is_finite() && baseline > 0.0 {
        format!("{:.2}×", value / baseline)
    } else {
        "n/a".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_formatted_for_reading() {
        assert_eq!(rate(1_234_567.4), "1,234,567");
        assert_eq!(rate(999.0), "999");
        assert_eq!(rate(f64::NAN), "n/a");
        assert_eq!(latency(123_456.0), "123 ms");
        assert_eq!(latency(12_345.0), "12.3 ms");
        assert_eq!(latency(1_234.0), "1.23 ms");
        assert_eq!(latency(187.4), "187 µs");
        assert_eq!(latency(12.4), "12.4 µs");
        assert_eq!(latency(0.844), "0.84 µs");
        // 12.4 / 8.8 prints as 1.41×: the latencies must show why.
        assert_eq!(
            (latency(12.4), latency(8.8), times(12.4, 8.8)),
            ("12.4 µs".into(), "8.80 µs".into(), "1.41×".into())
        );
        assert_eq!(percent(62.0, 100.0), "62%");
        assert_eq!(percent(1.0, 0.0), "n/a");
        assert_eq!(times(3.0, 2.0), "1.50×");
        assert_eq!(
            table(&["a", "b"], &[vec!["x".into(), "1".into()]]),
            "| a | b |\n| --- | ---: |\n| x | 1 |\n"
        );
    }
}
