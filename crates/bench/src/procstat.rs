//! CPU time and resident memory of a process, read from `/proc` (Linux) without `unsafe`.

use std::time::Duration;

/// The kernel reports `utime`/`stime` in `USER_HZ` ticks, which is 100 on every Linux ABI.
const USER_HZ: f64 = 100.0;

/// User + system CPU time of process `pid` (`None`: this process) so far, to 10 ms.
pub fn cpu_time(pid: Option<u32>) -> Option<Duration> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    // Fields after the command name, which may contain spaces, start with the state (field 3).
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_secs_f64((utime + stime) as f64 / USER_HZ))
}

fn status_kib(key: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}

/// Threads of this process now (`Threads` in `/proc/self/status`): the runtime's workers and whatever
/// its blocking pool has grown to, each with a stack and an allocator cache of its own in the RSS.
pub fn threads() -> Option<u64> {
    status_kib("Threads:")
}

/// Peak resident set size of this process (`VmHWM`), in bytes.
pub fn peak_rss() -> Option<u64> {
    status_kib("VmHWM:").map(|kib| kib * 1024)
}

/// Current resident set size of this process (`VmRSS`), in bytes.
pub fn current_rss() -> Option<u64> {
    status_kib("VmRSS:").map(|kib| kib * 1024)
}

/// Resets this process's peak RSS to its current RSS (`echo 5 > /proc/self/clear_refs`), so that the
/// next [`peak_rss`] covers only what ran since. Returns false when the kernel refused.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", b"5").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let busy = std::time::Instant::now();
        let mut x = 0u64;
        while busy.elapsed() < Duration::from_millis(60) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        assert!(cpu_time(None).unwrap() >= Duration::from_millis(20));
        assert!(cpu_time(Some(std::process::id())).is_some());
        let peak = peak_rss().unwrap();
        assert!(peak >= current_rss().unwrap() / 2 && peak > 1 << 20, "{peak}");
        assert!(threads().unwrap() >= 1);
    }
}
