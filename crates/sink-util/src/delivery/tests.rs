//! The driver against a scripted backend: entries are numbers, requests are lists of them, and each
//! attempt's verdict comes from a closure that sees the request and how many attempts came before.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::time::Instant;

use super::*;
use logcrawl_core::deadletter::DeadLetterFile;
use logcrawl_http::RateLimitConfig;

type Answer = Box<dyn Fn(&[u32], usize) -> Verdict + Send + Sync>;

struct Fake {
    answer: Answer,
    /// Every attempt's request, in order.
    sent: Mutex<Vec<Vec<u32>>>,
    /// What `refresh_credentials` answers.
    refreshable: bool,
    refreshes: AtomicUsize,
    /// `halves` fails.
    broken_halves: bool,
}

impl Fake {
    fn new(answer: impl Fn(&[u32], usize) -> Verdict + Send + Sync + 'static) -> Self {
        Self {
            answer: Box::new(answer),
            sent: Mutex::default(),
            refreshable: false,
            refreshes: AtomicUsize::new(0),
            broken_halves: false,
        }
    }

    /// Answers `verdict` to the first `failures` attempts, then accepts.
    fn failing_first(failures: usize, verdict: Verdict) -> Self {
        Self::new(move |_, before| if before < failures { verdict.clone() } else { Verdict::Accepted })
    }

    fn sent(&self) -> Vec<Vec<u32>> {
        self.sent.lock().unwrap().clone()
    }

    fn attempts(&self) -> usize {
        self.sent.lock().unwrap().len()
    }
}

impl Courier for Fake {
    type Request = Vec<u32>;

    fn entries(&self, request: &Vec<u32>) -> usize {
        request.len()
    }

    fn attempt(&self, request: &Vec<u32>) -> impl Future<Output = Verdict> + Send {
        let before = {
            let mut sent = self.sent.lock().unwrap();
            sent.push(request.clone());
            sent.len() - 1
        };
        let verdict = (self.answer)(request, before);
        async move { verdict }
    }

    async fn halves(&self, mut request: Vec<u32>) -> Result<(Vec<u32>, Vec<u32>), SinkError> {
        if self.broken_halves {
            return Err(SinkError::retryable("cutting failed"));
        }
        let second = request.split_off(request.len() / 2);
        Ok((request, second))
    }

    fn excerpt(&self, request: &Vec<u32>) -> String {
        format!("entry {}", request[0])
    }

    fn entry(&self, request: &Vec<u32>) -> Vec<u8> {
        format!("{{\"id\":{}}}", request[0]).into_bytes()
    }

    fn refresh_credentials(&self) -> bool {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        self.refreshable
    }
}

/// What one sink's deliveries share: its rate budget, what the backend accepted, its dead-letter file.
struct Backend {
    budget: RateBudget,
    refusals: Refusals,
    /// The same file as `refusals`' (for tests that swap it out).
    letters_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Backend {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let letters = DeadLetterFile::in_state_dir(dir.path(), "test-sink", 1 << 20);
        Self {
            budget: RateBudget::new("delivery-test", &RateLimitConfig::default()),
            letters_path: letters.path().to_owned(),
            refusals: Refusals { acceptance: Acceptance::default(), dead_letters: Some(letters) },
            _dir: dir,
        }
    }

    fn driver(&self) -> Driver<'_> {
        Driver {
            sink: "test-sink",
            peer: "the test backend",
            stream: "events",
            retry: RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_millis(100),
                max_delay: Duration::from_secs(10),
            },
            long_wait: LongServerWait::GiveUpAbove(Duration::from_secs(10)),
            budget: &self.budget,
            refusals: &self.refusals,
        }
    }

    /// The dead letters written: each entry's id and reason.
    fn letters(&self) -> Vec<(u64, String)> {
        std::fs::read_to_string(&self.letters_path)
            .unwrap_or_default()
            .lines()
            .map(|line| {
                let line: serde_json::Value = serde_json::from_str(line).unwrap();
                (line["entry"]["id"].as_u64().unwrap(), line["reason"].as_str().unwrap().to_owned())
            })
            .collect()
    }
}

fn ids(n: u32) -> Vec<u32> {
    (0..n).collect()
}

#[tokio::test(start_paused = true)]
async fn bisect_isolates_exactly_the_bad_entries() {
    const BAD: [u32; 3] = [3, 11, 12];
    let fake = Fake::new(|request, _| {
        if request.iter().any(|id| BAD.contains(id)) {
            Verdict::Bisect("HTTP 400: invalid entry".into())
        } else {
            Verdict::Accepted
        }
    });
    let backend = Backend::new();
    let delivered = backend.driver().deliver(&fake, ids(16)).await.unwrap();
    assert_eq!(delivered, Delivered { accepted: 13, refused: 3, too_large: 0 });
    assert_eq!(Delivery::from(delivered), Delivery { accepted: 13, dropped: 0, dead_lettered: 3 });
    let reason = "HTTP 400: invalid entry".to_owned();
    assert_eq!(backend.letters(), [(3, reason.clone()), (11, reason.clone()), (12, reason)], "set aside, not lost");
    let sent = fake.sent();
    let singles_refused: Vec<u32> = sent.iter().filter(|r| r.len() == 1 && BAD.contains(&r[0])).map(|r| r[0]).collect();
    assert_eq!(singles_refused, BAD, "each bad entry was tried alone, in order");
    // The accepted requests hold every good entry exactly once, in the original order.
    let accepted: Vec<u32> = sent.iter().filter(|r| !r.iter().any(|id| BAD.contains(id))).flatten().copied().collect();
    let good: Vec<u32> = ids(16).into_iter().filter(|id| !BAD.contains(id)).collect();
    assert_eq!(accepted, good);
    assert!(sent.len() < 16 * 2, "bisection costs less than two requests per entry: {}", sent.len());
}

#[tokio::test(start_paused = true)]
async fn split_halves_until_the_parts_fit() {
    let fake =
        Fake::new(|request, _| if request.len() > 4 { Verdict::Split("HTTP 413".into()) } else { Verdict::Accepted });
    let backend = Backend::new();
    let delivered = backend.driver().deliver(&fake, ids(16)).await.unwrap();
    assert_eq!(delivered, Delivered { accepted: 16, refused: 0, too_large: 0 });
    let sizes: Vec<usize> = fake.sent().iter().map(Vec::len).collect();
    assert_eq!(sizes, [16, 8, 4, 4, 8, 4, 4]);
    let accepted: Vec<u32> = fake.sent().into_iter().filter(|r| r.len() <= 4).flatten().collect();
    assert_eq!(accepted, ids(16), "every entry once, in order");
}

#[tokio::test(start_paused = true)]
async fn a_single_entry_still_too_large_is_set_aside() {
    let fake = Fake::new(|request, _| {
        if request.len() > 1 || request == [5] { Verdict::Split("HTTP 413".into()) } else { Verdict::Accepted }
    });
    let backend = Backend::new();
    let delivered = backend.driver().deliver(&fake, ids(8)).await.unwrap();
    assert_eq!(delivered, Delivered { accepted: 7, refused: 0, too_large: 1 });
    assert_eq!(delivered.dead_lettered(), 1);
    assert_eq!(backend.letters(), [(5, "HTTP 413".to_owned())]);
}

#[tokio::test(start_paused = true)]
async fn retries_stop_after_max_attempts_with_the_last_error() {
    let fake = Fake::new(|_, before| Verdict::Retry { after: None, last: format!("HTTP 503 (answer {before})") });
    let backend = Backend::new();
    let started = Instant::now();
    let err = backend.driver().deliver(&fake, ids(4)).await.unwrap_err();
    assert_eq!(fake.attempts(), 3);
    assert!(!err.is_fatal());
    assert_eq!(err.to_string(), "sink test-sink: gave up on the test backend after 3 attempts: HTTP 503 (answer 2)");
    // Two backoff waits: at least 50 ms and 100 ms (the lower halves of the jittered delays).
    assert!(started.elapsed() >= Duration::from_millis(150), "{:?}", started.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_retry_that_succeeds_counts_every_entry_once() {
    let fake = Fake::failing_first(2, Verdict::Retry { after: None, last: "timeout".into() });
    let backend = Backend::new();
    let delivered = backend.driver().deliver(&fake, ids(5)).await.unwrap();
    assert_eq!(delivered, Delivered { accepted: 5, refused: 0, too_large: 0 });
    assert_eq!(fake.attempts(), 3);
    assert!(fake.sent().iter().all(|r| *r == ids(5)), "the same request each time");
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_waited_out_and_holds_the_budget() {
    let fake = Fake::failing_first(1, Verdict::Retry { after: Some(Duration::from_secs(5)), last: "HTTP 429".into() });
    let backend = Backend::new();
    let started = Instant::now();
    let driver = backend.driver();
    // Another sender of the same budget, starting once the 429 is in: it is held as long.
    let (delivered, other) = tokio::join!(driver.deliver(&fake, ids(2)), async {
        backend.budget.acquire().await;
        started.elapsed()
    });
    assert_eq!(delivered.unwrap().accepted, 2);
    assert_eq!(fake.attempts(), 2);
    assert!(started.elapsed() >= Duration::from_secs(5), "{:?}", started.elapsed());
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "backoff (≤ 100 ms) is not added to it: {:?}",
        started.elapsed()
    );
    assert!(other >= Duration::from_secs(5), "the other sender waited only {other:?}");
}

#[tokio::test(start_paused = true)]
async fn retry_after_longer_than_max_delay_gives_up_at_once() {
    let fake = Fake::new(|_, _| Verdict::Retry { after: Some(Duration::from_secs(3600)), last: "HTTP 429".into() });
    let backend = Backend::new();
    let started = Instant::now();
    let err = backend.driver().deliver(&fake, ids(2)).await.unwrap_err();
    assert_eq!(fake.attempts(), 1);
    assert!(started.elapsed() < Duration::from_secs(1), "no wait before giving up: {:?}", started.elapsed());
    assert!(!err.is_fatal());
    assert_eq!(
        err.to_string(),
        "sink test-sink: the test backend asks to wait 3600 s (Retry-After), longer than the 10 s allowed: HTTP 429"
    );
    // Every other request to the backend is held for retry_max_delay.
    backend.budget.acquire().await;
    assert!(started.elapsed() >= Duration::from_secs(10), "{:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(3600), "{:?}", started.elapsed());
}

#[tokio::test(start_paused = true)]
async fn retry_after_beyond_the_cap_is_cut_to_it() {
    let fake =
        Fake::failing_first(1, Verdict::Retry { after: Some(Duration::from_secs(3600)), last: "HTTP 503".into() });
    let backend = Backend::new();
    let driver = Driver { long_wait: LongServerWait::WaitAtMost(Duration::from_secs(30)), ..backend.driver() };
    let started = Instant::now();
    assert_eq!(driver.deliver(&fake, ids(1)).await.unwrap().accepted, 1);
    assert_eq!(fake.attempts(), 2);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(30) && waited < Duration::from_secs(31), "{waited:?}");
}

#[tokio::test(start_paused = true)]
async fn fatal_stops_at_once() {
    // A fatal verdict, and a 401 that fresh credentials cannot help (static keys).
    for verdict in [Verdict::Fatal("the key was refused".into()), Verdict::Unauthorized("the key was refused".into())] {
        let fake = Fake::new(move |_, _| verdict.clone());
        let backend = Backend::new();
        let err = backend.driver().deliver(&fake, ids(16)).await.unwrap_err();
        assert!(err.is_fatal());
        assert_eq!(err.to_string(), "the key was refused");
        assert_eq!(fake.attempts(), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn a_fatal_half_fails_the_whole_delivery() {
    // The first half is accepted, the second is refused for good: nothing may be acknowledged.
    let fake = Fake::new(|request, _| match request.len() {
        4 => Verdict::Bisect("HTTP 400".into()),
        _ if request[0] == 0 => Verdict::Accepted,
        _ => Verdict::Fatal("gone".into()),
    });
    let backend = Backend::new();
    let err = backend.driver().deliver(&fake, ids(4)).await.unwrap_err();
    assert!(err.is_fatal());
    assert_eq!(fake.sent(), [vec![0, 1, 2, 3], vec![0, 1], vec![2, 3]]);
}

#[tokio::test(start_paused = true)]
async fn unauthorized_refreshes_credentials_once_without_counting_an_attempt() {
    // 401, then 503 (the one attempt allowed), then nothing more: the refresh did not use up the attempt.
    let mut fake = Fake::new(|_, before| match before {
        0 => Verdict::Unauthorized("token refused".into()),
        1 => Verdict::Retry { after: None, last: "HTTP 503".into() },
        _ => Verdict::Accepted,
    });
    fake.refreshable = true;
    let backend = Backend::new();
    let driver = Driver { retry: RetryPolicy { max_attempts: 2, ..backend.driver().retry }, ..backend.driver() };
    assert_eq!(driver.deliver(&fake, ids(3)).await.unwrap().accepted, 3);
    assert_eq!(fake.attempts(), 3);
    assert_eq!(fake.refreshes.load(Ordering::SeqCst), 1);

    // A second 401 for the same request is fatal.
    let mut fake = Fake::new(|_, _| Verdict::Unauthorized("token refused".into()));
    fake.refreshable = true;
    let err = driver.deliver(&fake, ids(3)).await.unwrap_err();
    assert!(err.is_fatal());
    assert_eq!(err.to_string(), "token refused");
    assert_eq!(fake.attempts(), 2);
    assert_eq!(fake.refreshes.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failure_to_cut_a_request_ends_the_delivery() {
    let mut fake = Fake::new(|_, _| Verdict::Split("HTTP 413".into()));
    fake.broken_halves = true;
    let backend = Backend::new();
    let err = backend.driver().deliver(&fake, ids(4)).await.unwrap_err();
    assert!(!err.is_fatal());
    assert_eq!(err.to_string(), "cutting failed");
    assert_eq!(fake.attempts(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_backend_refusing_everything_fails_the_send_and_sets_nothing_aside() {
    // A misconfiguration (labels, a proxy): every entry is refused, alone too. Bisecting used to end in
    // dropping all of them and committing the cursor past them.
    let fake = Fake::new(|_, _| Verdict::Bisect("HTTP 400: invalid labels".into()));
    let backend = Backend::new();
    let err = backend.driver().deliver(&fake, ids(8)).await.unwrap_err();
    assert!(!err.is_fatal(), "the next run sends them again");
    let text = err.to_string();
    assert!(
        text.contains("all 8 records") && text.contains("accepted nothing") && text.contains("invalid labels"),
        "{text}"
    );
    assert!(backend.letters().is_empty());
    assert!(!backend.letters_path.exists());
}

#[tokio::test(start_paused = true)]
async fn a_lone_record_refused_before_anything_was_accepted_is_a_failed_send() {
    // A quiet stream sends one record per batch: a refusal of it alone proves nothing about the record.
    let fake = Fake::new(|_, _| Verdict::Bisect("HTTP 400".into()));
    let backend = Backend::new();
    let err = backend.driver().deliver(&fake, ids(1)).await.unwrap_err();
    assert!(err.to_string().contains("the record of its request"), "{err}");
    assert!(backend.letters().is_empty());
    assert_eq!(fake.attempts(), 1, "a 400 is not retried");
}

#[tokio::test(start_paused = true)]
async fn a_lone_record_refused_while_the_backend_accepts_others_is_set_aside() {
    let backend = Backend::new();
    let accepting = Fake::new(|_, _| Verdict::Accepted);
    assert_eq!(backend.driver().deliver(&accepting, vec![100, 101]).await.unwrap().accepted, 2);
    let refusing = Fake::new(|_, _| Verdict::Bisect("HTTP 400: bad field".into()));
    let delivered = backend.driver().deliver(&refusing, vec![7]).await.unwrap();
    assert_eq!(delivered, Delivered { accepted: 0, refused: 1, too_large: 0 });
    assert_eq!(backend.letters(), [(7, "HTTP 400: bad field".to_owned())]);
}

#[tokio::test(start_paused = true)]
async fn without_a_dead_letter_file_a_refused_record_fails_the_send() {
    let fake = Fake::new(
        |request, _| if request.contains(&2) { Verdict::Bisect("HTTP 400".into()) } else { Verdict::Accepted },
    );
    let backend = Backend::new();
    let without = Refusals::default();
    let driver = Driver { refusals: &without, ..backend.driver() };
    let err = driver.deliver(&fake, ids(4)).await.unwrap_err();
    assert!(err.to_string().contains("no dead-letter file"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_full_dead_letter_file_fails_the_send() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = Refusals {
        dead_letters: Some(DeadLetterFile::in_state_dir(dir.path(), "test-sink", 10)),
        ..Refusals::default()
    };
    let fake = Fake::new(
        |request, _| if request.contains(&2) { Verdict::Bisect("HTTP 400".into()) } else { Verdict::Accepted },
    );
    let backend = Backend::new();
    let driver = Driver { refusals: &tiny, ..backend.driver() };
    let err = driver.deliver(&fake, ids(4)).await.unwrap_err();
    assert!(err.to_string().contains("is full"), "{err}");
}
