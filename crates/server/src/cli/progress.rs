//! Progress of a long command: on a terminal, a bar on standard error
//! (records done, rate, time left); in a pipe or a log, one line every
//! [`LINE_EVERY`] instead, so a job's log shows that it is alive. Standard
//! output keeps only the command's result.

use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a line is printed when standard error is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// The progress of one command.
pub(crate) struct Progress {
    /// What is counted, in the plural ("records").
    what: &'static str,
    /// The total in units of `position` (bytes of a file, records), when
    /// known.
    total: Option<u64>,
    /// How far through the total (same unit as `total`).
    position: u64,
    /// How many `what` are done.
    done: u64,
    started: Instant,
    last_line: Instant,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Starts counting `what`; `total` is the end of the position (a
    /// file's length, a number of records) when known.
    pub(crate) fn new(what: &'static str, total: Option<u64>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
            let template = if total.is_some() {
                "{msg} [{bar:30}] {percent}%, {eta} left"
            } else {
                "{spinner} {msg}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let now = Instant::now();
        Self {
            what,
            total,
            position: 0,
            done: 0,
            started: now,
            last_line: now,
            bar,
        }
    }

    /// One more `what` done, at `position` of the total.
    pub(crate) fn advance(&mut self, position: u64) {
        self.done += 1;
        self.position = position;
        if let Some(bar) = &self.bar {
            bar.set_position(position);
            if self.done % 64 == 1 {
                bar.set_message(self.counts());
            }
        } else if self.last_line.elapsed() >= LINE_EVERY {
            self.last_line = Instant::now();
            eprintln!("{}", self.line());
        }
    }

    /// Clears the bar and prints the final count and rate.
    pub(crate) fn finish(self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let seconds = self.started.elapsed().as_secs_f64();
        eprintln!(
            "{} {} in {seconds:.1} s ({:.0}/s)",
            self.done,
            self.what,
            rate(self.done, seconds)
        );
    }

    fn counts(&self) -> String {
        format!(
            "{} {}, {:.0}/s",
            self.done,
            self.what,
            rate(self.done, self.started.elapsed().as_secs_f64())
        )
    }

    /// The line printed every [`LINE_EVERY`] off a terminal.
    #[expect(
        clippy::cast_precision_loss,
        reason = "a percentage to print; positions are far below 2^52"
    )]
    fn line(&self) -> String {
        let mut line = format!("progress: {}", self.counts());
        if let Some(total) = self.total.filter(|t| *t > 0) {
            let fraction = self.position as f64 / total as f64;
            let elapsed = self.started.elapsed().as_secs_f64();
            let _ = write!(line, ", {:.0}% done", fraction * 100.0);
            if fraction > 0.0 {
                let left = elapsed * (1.0 - fraction) / fraction;
                let _ = write!(line, ", about {left:.0} s left");
            }
        }
        line
    }
}

/// Runs `work`, a store-wide walk that reports only at its end, showing
/// that it is alive meanwhile: a spinner with the time spent on a
/// terminal, else a line every [`LINE_EVERY`]. `what` names the work
/// ("purge"); `count` turns the result into the number of records it
/// handled, for the closing rate.
pub(crate) async fn alive<T, E>(
    what: &'static str,
    work: impl std::future::Future<Output = Result<T, E>>,
    count: impl Fn(&T) -> u64,
) -> Result<T, E> {
    let started = Instant::now();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            bar.set_style(style);
        }
        bar.set_message(format!("{what} running"));
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let mut work = std::pin::pin!(work);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + LINE_EVERY, LINE_EVERY);
    let result = loop {
        tokio::select! {
            result = &mut work => break result,
            _ = tick.tick(), if bar.is_none() => {
                eprintln!("progress: {what} running for {} s", started.elapsed().as_secs());
            }
        }
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Ok(done) = &result {
        let seconds = started.elapsed().as_secs_f64();
        let done = count(done);
        eprintln!(
            "{what}: {done} records in {seconds:.1} s ({:.0}/s)",
            rate(done, seconds)
        );
    }
    result
}

#[expect(
    clippy::cast_precision_loss,
    reason = "a rate to print; counts are far below 2^52"
)]
fn rate(done: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        done as f64 / seconds
    } else {
        0.0
    }
}
