//! Whole tenants crawled from the Auth0 simulator: every event once in `log_id` order, growth between
//! runs, crashes, expiring and revoked tokens, 429s.

use std::collections::HashSet;
use std::time::Duration;

use logcrawl_sim::auth0::Auth0Sim;
use logcrawl_testkit::Drained;
use serde_json::json;

use super::{TOKEN, connector, crawl, ids};

fn expected(sim: &Auth0Sim, from: u64, to: u64) -> Vec<String> {
    (from..to).map(|i| sim.log_id(i)).collect()
}

fn assert_once(run: &Drained, expected: &[String]) {
    assert!(run.error.is_none(), "{:?}", run.error);
    let got = ids(run);
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), got.len(), "duplicates delivered");
    assert_eq!(got, expected);
}

fn app(sim: &Auth0Sim) -> logcrawl_auth0::Auth0Connector {
    connector(sim.base_url(), json!({"client_id": "sim-client-id", "client_secret": "sim-client-secret"}))
}

#[tokio::test]
async fn a_tenant_is_crawled_once_in_log_id_order_then_only_what_arrives() {
    let sim = Auth0Sim::builder().events(2550).start().await.unwrap();
    let source = app(&sim);
    let first = crawl(&source, None).await;
    assert_once(&first, &expected(&sim, 0, 2550));
    sim.append(130);
    let second = crawl(&source, first.last_cursor()).await;
    assert_once(&second, &expected(&sim, 2550, 2680));
    let before = sim.requests();
    let third = crawl(&source, second.last_cursor()).await;
    assert_once(&third, &[]);
    assert_eq!(sim.requests() - before, 1, "a caught-up run asks once");
    assert_eq!(sim.token_requests(), 1, "one token for every run");
}

#[tokio::test]
async fn a_crash_after_any_record_resumes_right_after_it() {
    let sim = Auth0Sim::builder().events(260).token(TOKEN).start().await.unwrap();
    let source = connector(sim.base_url(), json!({"page_size": 50}));
    let all = crawl(&source, None).await;
    let everything = expected(&sim, 0, 260);
    assert_once(&all, &everything);
    for at in [0, 49, 50, 51, 199, 258] {
        let resumed = crawl(&source, all.records[at].cursor_value()).await;
        assert_once(&resumed, &everything[at + 1..]);
    }
}

#[tokio::test]
async fn the_first_run_starts_at_the_lookback_instant() {
    // Events stored 1 s apart over the last ~40 minutes; a 10-minute lookback reads the last 600 or so.
    let now = jiff::Timestamp::now();
    let start = now - jiff::SignedDuration::from_secs(2400);
    let sim = Auth0Sim::builder()
        .events(2400)
        .first_event_at(start)
        .spacing(Duration::from_secs(1))
        .token(TOKEN)
        .start()
        .await
        .unwrap();
    let source = connector(sim.base_url(), json!({"initial_lookback": "10m"}));
    let run = crawl(&source, None).await;
    assert!(run.error.is_none(), "{:?}", run.error);
    let got = ids(&run);
    let first = (0..2400).position(|i| sim.log_id(i) == got[0]).unwrap() as u64;
    assert!((1795..=1805).contains(&first), "the first event read is event {first}");
    assert_eq!(got, expected(&sim, first, 2400));
}

#[tokio::test]
async fn expired_and_revoked_tokens_are_replaced_without_losing_a_page() {
    let sim =
        Auth0Sim::builder().events(300).token_lifetime(Duration::from_secs(2)).inject_429([2]).start().await.unwrap();
    let source = connector(
        sim.base_url(),
        json!({"client_id": "sim-client-id", "client_secret": "sim-client-secret",
        "page_size": 100}),
    );
    let first = crawl(&source, None).await;
    assert_once(&first, &expected(&sim, 0, 300));
    assert_eq!(sim.rate_limited(), 1);
    let oauth = source.oauth().unwrap();
    // Half the lifetime later the cached token is due: the next run asks for a new one before using it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let fetched = oauth.token_fetches();
    sim.append(10);
    let second = crawl(&source, first.last_cursor()).await;
    assert_once(&second, &expected(&sim, 300, 310));
    assert_eq!(oauth.token_fetches(), fetched + 1, "a token due for renewal is replaced before it is used");
    sim.revoke_tokens();
    sim.append(10);
    let third = crawl(&source, second.last_cursor()).await;
    assert_once(&third, &expected(&sim, 310, 320));
    assert_eq!(oauth.token_fetches(), fetched + 2, "the 401 dropped the revoked token once");
    assert_eq!(sim.token_requests(), oauth.token_fetches());
}
