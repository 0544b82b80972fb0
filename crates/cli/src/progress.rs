//! Progress lines on a terminal: one per stream while `run --once` or `check` crawls, saying how many
//! events it delivered, how fast, how far behind now its newest delivered event is, and when it should
//! be caught up at the current pace. Nothing is drawn when stderr is not a terminal (a log file, a
//! pipe, a service manager's journal): those get log lines only.
//!
//! The ETA is the crawl's own arithmetic: the event time delivered advances `speed` seconds per second
//! of wall time while now advances one, so the distance `behind` closes at `speed − 1` and is gone in
//! `behind / (speed − 1)`. A crawl that does not gain (an empty vendor, a rate-limited one) shows none.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use logcrawl_core::{CrawlStats, StreamKey, StreamStats};

/// How often the lines are redrawn.
const TICK: Duration = Duration::from_millis(200);

/// The progress lines, or nothing off a terminal.
#[derive(Debug)]
pub struct Progress {
    lines: Option<(MultiProgress, tokio::task::JoinHandle<()>)>,
}

impl Progress {
    /// Stops drawing and leaves the final lines on the terminal.
    pub fn finish(self) {
        if let Some((lines, task)) = self.lines {
            task.abort();
            let _cleared = lines.clear();
        }
    }
}

/// Shows a line per stream of `stats` on stderr, if it is a terminal.
pub fn show(stats: Arc<CrawlStats>) -> Progress {
    if !std::io::stderr().is_terminal() {
        return Progress { lines: None };
    }
    let lines = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(5));
    let drawing = lines.clone();
    let task = tokio::spawn(async move {
        let mut bars: BTreeMap<StreamKey, (ProgressBar, Pace)> = BTreeMap::new();
        loop {
            for stream in stats.streams() {
                let (bar, pace) = bars.entry(stream.key.clone()).or_insert_with(|| {
                    let bar = drawing.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    (bar, Pace::start(&stream))
                });
                bar.set_message(pace.line(&stream, SystemTime::now()));
                bar.tick();
            }
            tokio::time::sleep(TICK).await;
        }
    });
    Progress { lines: Some((lines, task)) }
}

/// Where a stream started, to measure its pace from.
struct Pace {
    since: Instant,
    delivered: u64,
    newest: Option<SystemTime>,
}

impl Pace {
    fn start(stream: &StreamStats) -> Self {
        Self { since: Instant::now(), delivered: StreamStats::get(&stream.delivered), newest: stream.newest_event() }
    }

    fn line(&mut self, stream: &StreamStats, now: SystemTime) -> String {
        let delivered = StreamStats::get(&stream.delivered);
        let elapsed = self.since.elapsed().as_secs_f64();
        if self.newest.is_none() {
            self.newest = stream.newest_event();
        }
        let speed = match (self.newest, stream.newest_event()) {
            (Some(first), Some(last)) if elapsed > 0.5 => {
                Some(last.duration_since(first).unwrap_or_default().as_secs_f64() / elapsed)
            }
            _ => None,
        };
        describe(
            &stream.key,
            delivered,
            (delivered - self.delivered.min(delivered)) as f64 / elapsed.max(0.001),
            stream.lag(now),
            speed,
            stream.is_running(),
        )
    }
}

/// One stream's line: `okta/logs: 120 000 events, 9 500/s, 2h 10m behind, caught up in ~14m`.
fn describe(
    key: &StreamKey,
    delivered: u64,
    rate: f64,
    behind: Option<Duration>,
    speed: Option<f64>,
    running: bool,
) -> String {
    let mut line = format!("{key}: {} events, {}/s", grouped(delivered), grouped(rate.round() as u64));
    if let Some(behind) = behind {
        line.push_str(&format!(", {} behind", short(behind)));
        match speed {
            _ if !running => line.push_str(", caught up"),
            Some(speed) if speed > 1.0 && behind > Duration::from_secs(1) => {
                let eta = Duration::from_secs_f64((behind.as_secs_f64() / (speed - 1.0)).min(1e9));
                line.push_str(&format!(", caught up in ~{}", short(eta)));
            }
            _ => {}
        }
    } else if !running {
        line.push_str(", caught up");
    }
    line
}

/// `1 234 567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// `3d 4h`, `2h 10m`, `5m 3s`, `42s`.
fn short(duration: Duration) -> String {
    let s = duration.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3_600 => format!("{}m {}s", s / 60, s % 60),
        3_600..86_400 => format!("{}h {}m", s / 3_600, s % 3_600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3_600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_says_count_rate_distance_and_eta() {
        let key = StreamKey::new("okta", "logs");
        let behind = Some(Duration::from_secs(2 * 3_600 + 600));
        assert_eq!(
            describe(&key, 120_000, 9_500.4, behind, Some(11.0), true),
            "okta/logs: 120 000 events, 9 500/s, 2h 10m behind, caught up in ~13m 0s"
        );
        // Not gaining: no ETA rather than a negative or infinite one.
        assert_eq!(
            describe(&key, 5, 0.0, Some(Duration::from_secs(30)), Some(0.4), true),
            "okta/logs: 5 events, 0/s, 30s behind"
        );
        assert_eq!(describe(&key, 0, 0.0, None, None, false), "okta/logs: 0 events, 0/s, caught up");
        assert_eq!(grouped(1_234_567), "1 234 567");
        assert_eq!(short(Duration::from_secs(3 * 86_400 + 4 * 3_600)), "3d 4h");
    }
}
