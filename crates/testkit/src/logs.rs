//! [`LogCapture`]: every `tracing` event of a test, formatted as the real log lines are.

use std::io;
use std::sync::{Arc, Mutex};

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// One formatted log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Its level.
    pub level: Level,
    /// Its target (the module that logged it).
    pub target: String,
    /// The line as `tracing_subscriber::fmt` writes it (no time, no colour): level, target, message and
    /// every field.
    pub text: String,
}

/// Captures every `tracing` event, every level, while its [`CaptureGuard`] lives.
///
/// [`LogCapture::start`] makes it the **thread's** default subscriber. Under `#[tokio::test]` (a
/// current-thread runtime) every task, spawned ones included, runs on that thread and is captured; on a
/// multi-thread runtime events of other worker threads are missed, so tests that assert on logs use the
/// current-thread default.
#[derive(Debug, Clone, Default)]
pub struct LogCapture {
    lines: Arc<Mutex<Vec<LogLine>>>,
}

/// Keeps a [`LogCapture`] installed; dropping it restores the previous subscriber.
#[derive(Debug)]
pub struct CaptureGuard {
    capture: LogCapture,
    _default: tracing::subscriber::DefaultGuard,
}

impl std::ops::Deref for CaptureGuard {
    type Target = LogCapture;

    fn deref(&self) -> &LogCapture {
        &self.capture
    }
}

impl LogCapture {
    /// Installs a new capture as this thread's default subscriber, at `TRACE`.
    pub fn start() -> CaptureGuard {
        let capture = LogCapture::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(capture.clone())
            .with_max_level(Level::TRACE)
            .with_ansi(false)
            .without_time()
            .finish();
        let default = tracing::subscriber::set_default(subscriber);
        CaptureGuard { capture, _default: default }
    }

    /// Every line captured so far.
    pub fn lines(&self) -> Vec<LogLine> {
        self.lines.lock().expect("log capture poisoned").clone()
    }

    /// The text of the lines at `level` exactly.
    pub fn texts_at(&self, level: Level) -> Vec<String> {
        self.lines().into_iter().filter(|l| l.level == level).map(|l| l.text).collect()
    }

    /// The lines containing `needle`.
    pub fn containing(&self, needle: &str) -> Vec<LogLine> {
        self.lines().into_iter().filter(|l| l.text.contains(needle)).collect()
    }

    /// Panics, quoting the line, when a captured line contains `secret`.
    pub fn assert_absent(&self, secret: &str) {
        if let Some(line) = self.containing(secret).first() {
            panic!("a log line contains the secret: {}", line.text);
        }
    }
}

/// Buffers one event's output and files it as a line when `fmt` drops it.
#[derive(Debug)]
pub struct LineWriter {
    lines: Arc<Mutex<Vec<LogLine>>>,
    level: Level,
    target: String,
    buf: Vec<u8>,
}

impl io::Write for LineWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.buf).trim().to_owned();
        let line = LogLine { level: self.level, target: std::mem::take(&mut self.target), text };
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(line);
        }
    }
}

impl<'a> MakeWriter<'a> for LogCapture {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter { lines: self.lines.clone(), level: Level::INFO, target: String::new(), buf: Vec::new() }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> LineWriter {
        LineWriter {
            lines: self.lines.clone(),
            level: *meta.level(),
            target: meta.target().to_owned(),
            buf: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_every_level_with_fields_until_dropped() {
        let logs = LogCapture::start();
        tracing::trace!(answer = 42, "deep");
        tracing::warn!(url = %"http://x/y", "careful");
        let lines = logs.lines();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0].level, Level::TRACE);
        assert!(lines[0].text.contains("deep") && lines[0].text.contains("answer=42"), "{lines:?}");
        assert_eq!(logs.texts_at(Level::WARN).len(), 1);
        assert!(lines[1].target.contains("logs"), "{lines:?}");
        let kept = logs.clone();
        drop(logs);
        tracing::warn!("after");
        assert_eq!(kept.lines().len(), 2, "nothing is captured once the guard is gone");
    }

    #[test]
    #[should_panic(expected = "a log line contains the secret")]
    fn a_secret_in_a_line_is_reported() {
        let logs = LogCapture::start();
        tracing::debug!(header = "Bearer hunter2", "sending");
        logs.assert_absent("hunter2");
    }
}
