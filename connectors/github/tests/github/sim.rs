//! Whole audit logs crawled from the GitHub simulator: every event once, growth between runs, both ways
//! GitHub may end an ascending crawl, rate limits, a refused cursor, GitHub Enterprise Server.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use logcrawl_sim::github::{GithubSim, document_id};
use logcrawl_sim::util::Planted;
use logcrawl_testkit::Drained;
use serde_json::json;

use super::{TOKEN, connector, crawl, ids};

/// The ids the org endpoint serves of events `from..to` (web events only).
fn web_ids(sim: &GithubSim, from: u64, to: u64) -> Vec<String> {
    (from..to).filter(|&i| !sim.is_git(i)).map(document_id).collect()
}

fn assert_once(run: &Drained, expected: &[String]) {
    assert!(run.error.is_none(), "{:?}", run.error);
    let got = ids(run);
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), got.len(), "duplicates delivered");
    assert_eq!(got, expected);
}

async fn crawls_grows_and_resumes(next_on_last_page: bool) {
    let sim = GithubSim::builder().events(250).token(TOKEN).next_on_last_page(next_on_last_page).start().await.unwrap();
    let source = connector(&sim.base_url(), json!({}));
    let first = crawl(&source, None).await;
    assert_once(&first, &web_ids(&sim, 0, 250));

    sim.append(60);
    let second = crawl(&source, first.last_cursor()).await;
    assert_once(&second, &web_ids(&sim, 250, 310));

    let before = sim.requests();
    let third = crawl(&source, second.last_cursor().or(first.last_cursor())).await;
    assert_once(&third, &[]);
    assert_eq!(sim.requests() - before, 1, "a caught-up run asks one page");
}

#[tokio::test]
async fn a_log_whose_last_page_has_no_next_link_is_crawled_once_and_resumed_on_that_page() {
    crawls_grows_and_resumes(false).await;
}

#[tokio::test]
async fn a_log_whose_last_page_has_a_next_link_is_crawled_once_and_resumed_at_the_link() {
    crawls_grows_and_resumes(true).await;
}

#[tokio::test]
async fn a_crash_after_any_record_resumes_right_after_it() {
    let sim = GithubSim::builder().events(230).token(TOKEN).start().await.unwrap();
    let source = connector(&sim.base_url(), json!({"page_size": 50}));
    let all = crawl(&source, None).await;
    let expected = web_ids(&sim, 0, 230);
    for at in [0, 48, 49, 50, 120, expected.len() - 2] {
        let resumed = crawl(&source, all.records[at].cursor_value()).await;
        assert_once(&resumed, &expected[at + 1..]);
    }
}

#[tokio::test]
async fn rate_limits_answered_with_403_and_429_are_waited_out_without_gap_or_duplicate() {
    let sim = GithubSim::builder()
        .events(450)
        .token(TOKEN)
        .inject(Planted::Exhausted, [2])
        .inject(Planted::Secondary, [3])
        .inject(Planted::TooManyRequests, [5])
        .start()
        .await
        .unwrap();
    let started = Instant::now();
    let run = crawl(&connector(&sim.base_url(), json!({})), None).await;
    assert_once(&run, &web_ids(&sim, 0, 450));
    assert_eq!(sim.rate_limited(), 3);
    assert!(started.elapsed() >= Duration::from_millis(2500), "the waits were not obeyed: {:?}", started.elapsed());
}

#[tokio::test]
async fn a_refused_cursor_falls_back_to_its_second_and_delivers_exactly_the_rest() {
    // 20 ms apart: 50 events a second, fewer than a page, so a second never spans two pages.
    let sim = GithubSim::builder().events(240).spacing(Duration::from_millis(20)).token(TOKEN).start().await.unwrap();
    for page_size in [100, 7] {
        let source = connector(&sim.base_url(), json!({"page_size": page_size}));
        let first = crawl(&source, None).await;
        assert_once(&first, &web_ids(&sim, 0, sim.total_events()));
        let total = sim.total_events();
        sim.append(33);
        sim.expire_cursors();
        let second = crawl(&source, first.last_cursor()).await;
        assert_once(&second, &web_ids(&sim, total, total + 33));
    }
}

#[tokio::test]
async fn an_enterprise_log_on_github_enterprise_server_with_every_event_kind() {
    let sim = GithubSim::builder().events(120).token(TOKEN).enterprise_server(true).start().await.unwrap();
    assert!(sim.base_url().ends_with("/api/v3"));
    let source = connector(&sim.base_url(), json!({"enterprise": "acme-ent", "include": "all", "page_size": 25}));
    let run = crawl(&source, None).await;
    assert_once(&run, &(0..120).map(document_id).collect::<Vec<_>>());
    let git = connector(&sim.base_url(), json!({"enterprise": "acme-ent", "include": "git"}));
    let run = crawl(&git, None).await;
    assert_once(&run, &(0..120).filter(|&i| sim.is_git(i)).map(document_id).collect::<Vec<_>>());
}

#[tokio::test]
async fn no_enterprise_cloud_no_audit_log() {
    let sim = GithubSim::builder().token(TOKEN).enterprise_cloud(false).start().await.unwrap();
    let err = crawl(&connector(&sim.base_url(), json!({})), None).await.error.expect("404");
    assert!(err.to_string().contains("GitHub Enterprise Cloud"), "{err}");
    assert_eq!(sim.requests(), 1, "not retried");
}
