//! A simulated GitHub audit log API (organization and enterprise, GitHub Enterprise Cloud) on loopback.
//!
//! # Contract
//!
//! * **Endpoints.** `GET /orgs/{org}/audit-log` and `GET /enterprises/{enterprise}/audit-log` (the
//!   configured names), and the same logs under the numeric ids GitHub's `next` links use,
//!   `/organizations/{org_id}/audit-log` and `/enterprises/{enterprise_id}/audit-log` (go-github#1848 and
//!   GitHub's audit-log API guide show links on the numeric path (secondary sources)). With
//!   [`GithubSimBuilder::enterprise_server`] every path lives under `/api/v3`, as on GitHub Enterprise
//!   Server. Any other org or enterprise, and every audit-log path when
//!   [`GithubSimBuilder::enterprise_cloud`] is off (an org without Enterprise Cloud), answers 404
//!   `{"message": "Not Found", …}`.
//! * **Events.** Event `i` (0-based) is a pure function of `i` and the settings, in the shape of GitHub's
//!   documented examples: `@timestamp` and `created_at` (the same epoch milliseconds, `start + i ×
//!   spacing`, so with a sub-millisecond spacing events share an instant), `_document_id` (22 URL-safe
//!   base64 characters, unique per index), `action`, `actor`, `actor_id`, `actor_ip`, `actor_location`,
//!   `user_agent`, `operation_type`, `org`, `org_id`, `business`, `business_id`, and per action `repo` /
//!   `team` / `user`. Every [`GithubSimBuilder::git_every`]-th event is a Git event (`git.clone`,
//!   `git.push`, `git.fetch`, with `repository`, `transport_protocol_name`). `user_agent` on web events is
//!   not in GitHub's published examples (unverified). Events `0..total` exist; [`append`](crate::util::Feed::append)
//!   publishes more while the server runs.
//! * **Which events.** The organization endpoint serves web events only (`include` is ignored there); the
//!   enterprise endpoint serves `include=web` (the default), `git` or `all`. Any other value answers 422.
//! * **Query.** `order=asc` is required (GitHub's default `desc` is not simulated: 422). `per_page`
//!   defaults to 30; larger than 100 is served as 100. `phrase=created:>=T` (RFC 3339, or a date) starts at
//!   the first event created at or after `T`; without a phrase the start is three months ago (GitHub's
//!   default window); another phrase answers 422. `after` is an opaque cursor, valid only as found in a
//!   `next` link; it resumes right after the event it was minted for (the phrase, if also given, still
//!   filters). A `before` cursor is not simulated (422). An unreadable `after`, or one minted before
//!   [`GithubSim::expire_cursors`], answers 422 `Validation Failed` (what GitHub answers a refused cursor
//!   is not documented (unverified)).
//! * **Cursors** look like GitHub's: standard base64 of `<created_at as 1.6e+12>|<_document_id>`, padded,
//!   percent-encoded in links.
//! * **Links.** One `Link` header value, comma-separated: `rel="first"` always, and `rel="next"` —
//!   `…/audit-log?per_page=N&order=asc[&include=…][&phrase=…]&after=<cursor>&before=` — after a page when
//!   more events exist beyond it. The request's phrase is carried into the link (GitHub's guide shows a
//!   `next` link with a garbled phrase, `?%3A2022-11-01=&…`, so how GitHub carries it is (unverified));
//!   a request with a cursor and no phrase is not held to the default three-month window. Whether GitHub's last page
//!   of an ascending crawl carries a `next` link is not documented (unverified): its guide says the link
//!   appears when there are more results, and Elastic's mock ends the chain on a page without one, which
//!   is the default here; with [`GithubSimBuilder::next_on_last_page`] every non-empty page has a `next`
//!   (after its last event) and an empty page's `next` is the URL requested.
//! * **Rate limits.** Every answer carries `x-ratelimit-limit/remaining/reset/used` and
//!   `x-ratelimit-resource: audit_log` for a fixed window ([`GithubSimBuilder::rate_limit`], default
//!   100 000 calls per hour; GitHub's is 1 750 per hour per user and IP). A call past the limit answers
//!   403 `API rate limit exceeded` with `x-ratelimit-remaining: 0` (GitHub's primary-limit answer).
//!   [`GithubSimBuilder::inject`] plants a 403 of the exhausted window, a secondary limit (403 with
//!   `Retry-After`) or a 429 with `Retry-After` on given request ordinals (1-based).
//! * **Auth.** With [`GithubSimBuilder::token`], a request without `Authorization: Bearer <token>` (or
//!   `token <token>`) answers 401 `Bad credentials` (it counts as a request ordinal, not against the
//!   window).
//! * **Speed.** Pages are rendered straight into one buffer (no serialiser, no allocation per event).
//!
//! The server binds `127.0.0.1:0`, runs on the current tokio runtime and stops when the [`GithubSim`] is
//! dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use bytes::{BufMut, BytesMut};
use serde::Deserialize;

use crate::util::{
    Feed, FeedSettings, Gate, Planted, RateHeaders, RateLimits, Server, authorized, decode_base64, feed_builder,
    feed_deref, json_response, link_list, put_base64, put_dec, put_hex, put_private_ip, serve_loopback, splitmix64,
    url_as_asked,
};

/// GitHub's largest page.
pub const MAX_PER_PAGE: u64 = 100;
/// GitHub's default page.
pub const DEFAULT_PER_PAGE: u64 = 30;
const DOC_KEY: u64 = 0x6769_7468_7562_5f61;
const DOCS_URL: &str = "https://docs.github.com/rest";

/// Settings of a [`GithubSim`].
#[derive(Debug, Clone)]
pub struct GithubSimBuilder {
    feed: FeedSettings,
    org: String,
    org_id: u64,
    enterprise: String,
    enterprise_id: u64,
    enterprise_cloud: bool,
    enterprise_server: bool,
    next_on_last_page: bool,
    git_every: u64,
}

impl Default for GithubSimBuilder {
    fn default() -> Self {
        Self {
            feed: FeedSettings::new(RateLimits::new(100_000, Duration::from_secs(3600))),
            org: "acme-corp".into(),
            org_id: 4_000_123,
            enterprise: "acme-ent".into(),
            enterprise_id: 13_827,
            enterprise_cloud: true,
            enterprise_server: false,
            next_on_last_page: false,
            git_every: 10,
        }
    }
}

impl GithubSimBuilder {
    feed_builder!(GithubSim);

    /// The organization's login and id (default `acme-corp`, 4000123).
    #[must_use]
    pub fn org(mut self, login: impl Into<String>, id: u64) -> Self {
        self.org = login.into();
        self.org_id = id;
        self
    }

    /// The enterprise's slug and id (default `acme-ent`, 13827).
    #[must_use]
    pub fn enterprise(mut self, slug: impl Into<String>, id: u64) -> Self {
        self.enterprise = slug.into();
        self.enterprise_id = id;
        self
    }

    /// Whether the account has GitHub Enterprise Cloud (default yes); without it the audit log is 404.
    #[must_use]
    pub fn enterprise_cloud(mut self, on: bool) -> Self {
        self.enterprise_cloud = on;
        self
    }

    /// Serve under `/api/v3`, as GitHub Enterprise Server does.
    #[must_use]
    pub fn enterprise_server(mut self, on: bool) -> Self {
        self.enterprise_server = on;
        self
    }

    /// Give every non-empty page a `next` link, the last one included (see the contract).
    #[must_use]
    pub fn next_on_last_page(mut self, on: bool) -> Self {
        self.next_on_last_page = on;
        self
    }

    /// Every `n`-th event is a Git event (default 10; 0: none).
    #[must_use]
    pub fn git_every(mut self, n: u64) -> Self {
        self.git_every = n;
        self
    }
}

#[derive(Debug)]
struct Shared {
    base_url: String,
    prefix: &'static str,
    feed: Feed,
    settings: GithubSimBuilder,
    cursor_epoch: AtomicU64,
}

/// A running simulated GitHub account (one organization in one enterprise). Dropping it stops the server.
#[derive(Debug)]
pub struct GithubSim {
    shared: Arc<Shared>,
    _server: Server,
}

impl GithubSim {
    /// Settings with defaults.
    pub fn builder() -> GithubSimBuilder {
        GithubSimBuilder::default()
    }

    /// Starts a server with `settings`.
    pub async fn start(settings: GithubSimBuilder) -> std::io::Result<Self> {
        let (shared, _server) = serve_loopback("github", Router::new().fallback(audit_log), |base_url| Shared {
            base_url,
            prefix: if settings.enterprise_server { "/api/v3" } else { "" },
            feed: Feed::new(settings.feed.clone()),
            settings,
            cursor_epoch: AtomicU64::new(0),
        })
        .await?;
        Ok(Self { shared, _server })
    }

    /// `http://127.0.0.1:PORT` (plus `/api/v3` on Enterprise Server): the connector's `base_url`.
    pub fn base_url(&self) -> String {
        format!("{}{}", self.shared.base_url, self.shared.prefix)
    }

    /// Refuses every cursor minted so far (422), as a connector's stored `next` link may be refused.
    pub fn expire_cursors(&self) {
        self.shared.cursor_epoch.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether event `i` is a Git event.
    pub fn is_git(&self, i: u64) -> bool {
        self.shared.is_git(i)
    }

    /// `created_at` of event `i`, in epoch milliseconds.
    pub fn created_ms(&self, i: u64) -> i64 {
        self.shared.created_ms(i)
    }

    /// Event `i` as this simulator serves it.
    pub fn render_event(&self, i: u64) -> Vec<u8> {
        let mut out = BytesMut::with_capacity(700);
        self.shared.render_event(&mut out, i);
        out.to_vec()
    }
}

feed_deref!(GithubSim);

/// The `_document_id` of event `index` (unique per index).
pub fn document_id(index: u64) -> String {
    let mut out = BytesMut::with_capacity(22);
    put_document_id(&mut out, index);
    String::from_utf8(out.to_vec()).unwrap_or_default()
}

fn put_document_id(out: &mut BytesMut, index: u64) {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&(index ^ DOC_KEY).to_be_bytes());
    bytes[8..].copy_from_slice(&splitmix64(index).to_be_bytes());
    put_base64(out, &bytes, true);
}

fn index_of_document(id: &str) -> Option<u64> {
    let bytes = decode_base64(id)?;
    let (head, tail) = (bytes.get(..8)?, bytes.get(8..16)?);
    let index = u64::from_be_bytes(head.try_into().ok()?) ^ DOC_KEY;
    (u64::from_be_bytes(tail.try_into().ok()?) == splitmix64(index) && bytes.len() == 16).then_some(index)
}

/// Which events an endpoint serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Include {
    Web,
    Git,
    All,
}

/// Whose audit log a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Org,
    Enterprise,
}

impl Shared {
    fn created_ms(&self, i: u64) -> i64 {
        self.feed.clock().at_ms(i)
    }

    fn is_git(&self, i: u64) -> bool {
        let every = self.settings.git_every;
        every > 0 && i % every == every - 1
    }

    fn serves(&self, i: u64, include: Include) -> bool {
        match include {
            Include::All => true,
            Include::Web => !self.is_git(i),
            Include::Git => self.is_git(i),
        }
    }

    /// The scope a path names (`None`: not an audit log this account has).
    fn scope(&self, path: &str) -> Option<Scope> {
        let path = path.strip_prefix(self.prefix)?.strip_prefix('/')?;
        let mut parts = path.split('/');
        let (kind, name, leaf) = (parts.next()?, parts.next()?, parts.next()?);
        if leaf != "audit-log" || parts.next().is_some() {
            return None;
        }
        let s = &self.settings;
        match kind {
            "orgs" if name == s.org => Some(Scope::Org),
            "organizations" if name == s.org_id.to_string() => Some(Scope::Org),
            "enterprises" if name == s.enterprise || name == s.enterprise_id.to_string() => Some(Scope::Enterprise),
            _ => None,
        }
    }

    fn link_path(&self, scope: Scope) -> String {
        match scope {
            Scope::Org => format!("{}{}/organizations/{}/audit-log", self.base_url, self.prefix, self.settings.org_id),
            Scope::Enterprise => {
                format!("{}{}/enterprises/{}/audit-log", self.base_url, self.prefix, self.settings.enterprise_id)
            }
        }
    }

    /// The cursor minted after event `index`, percent-encoded for a query.
    fn cursor(&self, index: u64) -> String {
        let mut payload = format!("{:e}", self.created_ms(index) as f64).replace('e', "e+");
        payload.push('|');
        payload.push_str(&document_id(index));
        let epoch = self.cursor_epoch.load(Ordering::Relaxed);
        if epoch > 0 {
            payload.push_str(&format!("|{epoch}"));
        }
        let mut out = BytesMut::new();
        put_base64(&mut out, payload.as_bytes(), false);
        escape(&String::from_utf8_lossy(&out))
    }

    /// The event a cursor was minted after, if it is one of ours and not expired.
    fn read_cursor(&self, cursor: &str) -> Option<u64> {
        let payload = String::from_utf8(decode_base64(cursor)?).ok()?;
        let mut parts = payload.split('|');
        let (_created, id) = (parts.next()?, parts.next()?);
        let epoch: u64 = parts.next().map_or(Some(0), |e| e.parse().ok())?;
        (epoch >= self.cursor_epoch.load(Ordering::Relaxed)).then_some(())?;
        index_of_document(id)
    }
}

#[derive(Deserialize)]
struct Params {
    phrase: Option<String>,
    include: Option<String>,
    after: Option<String>,
    before: Option<String>,
    order: Option<String>,
    per_page: Option<String>,
}

fn message(status: StatusCode, text: &str, headers: &[(&'static str, String)]) -> Response {
    let body = serde_json::json!({"message": text, "documentation_url": DOCS_URL, "status": status.as_str()});
    json_response(status, body.to_string(), headers)
}

fn unprocessable(field: &str, why: &str, headers: &[(&'static str, String)]) -> Response {
    let body = serde_json::json!({
        "message": "Validation Failed",
        "errors": [{"resource": "AuditLog", "field": field, "code": "invalid", "message": why}],
        "documentation_url": DOCS_URL,
        "status": "422",
    });
    json_response(StatusCode::UNPROCESSABLE_ENTITY, body.to_string(), headers)
}

/// `text` percent-encoded for a query value (everything but unreserved characters).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The first event at or after `created:>=T` (the only phrase simulated).
fn phrase_start(sim: &Shared, phrase: &str, total: u64) -> Option<u64> {
    let at = phrase.trim().strip_prefix("created:>=")?;
    let ms = match at.parse::<jiff::Timestamp>() {
        Ok(ts) => ts.as_millisecond(),
        Err(_) => {
            at.parse::<jiff::civil::Date>().ok()?.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp().as_millisecond()
        }
    };
    Some(sim.feed.clock().first_at_or_after(ms, total))
}

async fn audit_log(State(sim): State<Arc<Shared>>, headers: HeaderMap, uri: Uri) -> Response {
    let ordinal = sim.feed.gate().arrive();
    if let Some(token) = sim.feed.token()
        && !authorized(&headers, &format!("Bearer {token}"))
        && !authorized(&headers, &format!("token {token}"))
    {
        return message(StatusCode::UNAUTHORIZED, "Bad credentials", &[]);
    }
    let (quota, answer) = match sim.feed.gate().pass(ordinal) {
        Gate::Open(quota) => (quota, None),
        Gate::Exceeded(quota) => (quota, Some(Planted::Exhausted)),
        Gate::Planted(answer, quota) => (quota, Some(answer)),
    };
    let mut rate = quota.headers(RateHeaders::Joined);
    rate.push(("x-ratelimit-used", (quota.limit - quota.remaining.min(quota.limit)).to_string()));
    rate.push(("x-ratelimit-resource", "audit_log".to_owned()));
    let retry_after = ("retry-after", sim.feed.gate().limits().wait_secs().to_string());
    match answer {
        None => {}
        Some(Planted::Exhausted) => {
            return message(StatusCode::FORBIDDEN, "API rate limit exceeded for user ID 1.", &rate);
        }
        Some(Planted::Secondary) => {
            rate.push(retry_after);
            return message(
                StatusCode::FORBIDDEN,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                &rate,
            );
        }
        Some(Planted::TooManyRequests) => {
            rate.push(retry_after);
            return message(StatusCode::TOO_MANY_REQUESTS, "API rate limit exceeded.", &rate);
        }
    }

    let scope = match sim.scope(uri.path()) {
        Some(scope) if sim.settings.enterprise_cloud => scope,
        _ => return message(StatusCode::NOT_FOUND, "Not Found", &rate),
    };
    let params = match Query::<Params>::try_from_uri(&uri) {
        Ok(Query(params)) => params,
        Err(err) => return unprocessable("query", &err.to_string(), &rate),
    };
    if params.order.as_deref() != Some("asc") {
        return unprocessable("order", "only order=asc is simulated", &rate);
    }
    if params.before.as_deref().is_some_and(|b| !b.is_empty()) {
        return unprocessable("before", "before cursors are not simulated", &rate);
    }
    let include = match (scope, params.include.as_deref()) {
        (Scope::Org, _) | (Scope::Enterprise, None | Some("web")) => Include::Web,
        (Scope::Enterprise, Some("git")) => Include::Git,
        (Scope::Enterprise, Some("all")) => Include::All,
        (Scope::Enterprise, Some(_)) => return unprocessable("include", "must be web, git or all", &rate),
    };
    let per_page = match params.per_page.as_deref().map(str::parse::<u64>) {
        None | Some(Ok(0)) => DEFAULT_PER_PAGE,
        Some(Ok(n)) => n.min(MAX_PER_PAGE),
        Some(Err(_)) => return unprocessable("per_page", "must be a number", &rate),
    };
    let total = sim.feed.total_events();
    let from_phrase = match params.phrase.as_deref() {
        Some(phrase) => match phrase_start(&sim, phrase, total) {
            Some(start) => start,
            None => return unprocessable("phrase", "only created:>=<date or RFC 3339 time> is simulated", &rate),
        },
        // GitHub's default window (three months) for a query without a phrase; a cursor carries its own.
        None if params.after.as_deref().is_some_and(|a| !a.is_empty()) => 0,
        None => sim.feed.clock().first_at_or_after(jiff::Timestamp::now().as_millisecond() - 90 * 86_400_000, total),
    };
    let start = match params.after.as_deref().filter(|a| !a.is_empty()) {
        Some(after) => match sim.read_cursor(after) {
            Some(index) => (index + 1).max(from_phrase),
            None => return unprocessable("after", "the cursor is not valid", &rate),
        },
        None => from_phrase,
    };

    let mut body = BytesMut::with_capacity(per_page as usize * 700 + 2);
    body.put_u8(b'[');
    let (mut count, mut last, mut i) = (0u64, None, start);
    while count < per_page && i < total {
        if sim.serves(i, include) {
            if count > 0 {
                body.put_u8(b',');
            }
            sim.render_event(&mut body, i);
            count += 1;
            last = Some(i);
        }
        i += 1;
    }
    body.put_u8(b']');
    sim.feed.serve(count);
    let more = (i..total).any(|j| sim.serves(j, include));

    let base = sim.link_path(scope);
    let include_param = match (scope, include) {
        (Scope::Org, _) => String::new(),
        (_, Include::Web) => "&include=web".into(),
        (_, Include::Git) => "&include=git".into(),
        (_, Include::All) => "&include=all".into(),
    };
    let phrase_param = params.phrase.as_deref().map_or_else(String::new, |p| format!("&phrase={}", escape(p)));
    let query = format!("per_page={per_page}&order=asc{include_param}{phrase_param}");
    let next = match last {
        Some(last) if more || sim.settings.next_on_last_page => {
            Some(format!("{base}?{query}&after={}&before=", sim.cursor(last)))
        }
        None if sim.settings.next_on_last_page => Some(url_as_asked(&sim.base_url, &uri)),
        _ => None,
    };
    let first = format!("{base}?{query}&after=&before=");
    let mut response = json_response(StatusCode::OK, body.freeze(), &rate);
    match &next {
        Some(next) => link_list(&mut response, &[("next", next), ("first", &first)]),
        None => link_list(&mut response, &[("first", &first)]),
    }
    response
}

// ---------------------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------------------

/// What a web action touches.
#[derive(Clone, Copy)]
enum Target {
    Repo,
    Team,
    User,
    Token,
}

const WEB_ACTIONS: &[(&str, &str, Target)] = &[
    ("repo.create", "create", Target::Repo),
    ("team.add_member", "modify", Target::Team),
    ("org.add_member", "modify", Target::User),
    ("repo.access", "access", Target::Repo),
    ("protected_branch.update", "modify", Target::Repo),
    ("org.invite_member", "create", Target::User),
    ("personal_access_token.access_granted", "access", Target::Token),
    ("workflows.completed_workflow_run", "modify", Target::Repo),
    ("org.update_member", "modify", Target::User),
    ("repo.destroy", "remove", Target::Repo),
];
const GIT_ACTIONS: &[&str] = &["git.clone", "git.fetch", "git.push"];
const LOGINS: &[&str] = &["octocat", "monalisa", "hubot", "mona-admin", "defunkt", "mojombo", "pjhyett", "wycats"];
const REPOS: &[&str] = &["web", "api", "infra", "docs", "mobile", "data-pipeline"];
const COUNTRIES: &[&str] = &["US", "GB", "DE", "JP", "BR", "IN", "FR"];
const USER_AGENT: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

fn put_str_member(out: &mut BytesMut, key: &str, value: &str) {
    out.put_u8(b'"');
    out.put_slice(key.as_bytes());
    out.put_slice(b"\":\"");
    out.put_slice(value.as_bytes());
    out.put_slice(b"\",");
}

fn put_num_member(out: &mut BytesMut, key: &str, value: u64) {
    out.put_u8(b'"');
    out.put_slice(key.as_bytes());
    out.put_slice(b"\":");
    put_dec(out, value, 1);
    out.put_u8(b',');
}

impl Shared {
    fn render_event(&self, out: &mut BytesMut, index: u64) {
        let hash = splitmix64(index ^ 0x0bad_c0de_0000_0001);
        let created = u64::try_from(self.created_ms(index)).unwrap_or(0);
        let actor = (hash % LOGINS.len() as u64) as usize;
        let repo = REPOS[(hash >> 8) as usize % REPOS.len()];
        let s = &self.settings;
        out.put_slice(b"{\"@timestamp\":");
        put_dec(out, created, 1);
        out.put_slice(b",\"_document_id\":\"");
        put_document_id(out, index);
        out.put_slice(b"\",");
        let git = self.is_git(index);
        let action = if git {
            GIT_ACTIONS[(hash >> 16) as usize % GIT_ACTIONS.len()]
        } else {
            WEB_ACTIONS[(hash >> 16) as usize % WEB_ACTIONS.len()].0
        };
        put_str_member(out, "action", action);
        put_str_member(out, "actor", LOGINS[actor]);
        put_num_member(out, "actor_id", 583_231 + actor as u64);
        out.put_slice(b"\"actor_ip\":\"");
        put_private_ip(out, hash >> 16);
        out.put_slice(b"\",\"actor_location\":{\"country_code\":\"");
        out.put_slice(COUNTRIES[(hash >> 48) as usize % COUNTRIES.len()].as_bytes());
        out.put_slice(b"\"},");
        put_str_member(out, "business", &s.enterprise);
        put_num_member(out, "business_id", s.enterprise_id);
        out.put_slice(b"\"created_at\":");
        put_dec(out, created, 1);
        out.put_u8(b',');
        put_str_member(out, "org", &s.org);
        put_num_member(out, "org_id", s.org_id);
        if git {
            out.put_slice(b"\"repo\":\"");
            out.put_slice(s.org.as_bytes());
            out.put_u8(b'/');
            out.put_slice(repo.as_bytes());
            out.put_slice(b"\",\"repository\":\"");
            out.put_slice(s.org.as_bytes());
            out.put_u8(b'/');
            out.put_slice(repo.as_bytes());
            out.put_slice(b"\",\"repository_public\":false,\"transport_protocol\":1,\"transport_protocol_name\":\"http\",\"user\":\"");
            out.put_slice(LOGINS[actor].as_bytes());
            out.put_slice(b"\"}");
            return;
        }
        let (_, operation, target) = WEB_ACTIONS[(hash >> 16) as usize % WEB_ACTIONS.len()];
        put_str_member(out, "operation_type", operation);
        out.put_slice(b"\"request_id\":\"");
        put_hex(out, splitmix64(hash), 16);
        out.put_slice(b"\",");
        match target {
            Target::Repo => {
                out.put_slice(b"\"repo\":\"");
                out.put_slice(s.org.as_bytes());
                out.put_u8(b'/');
                out.put_slice(repo.as_bytes());
                out.put_slice(b"\",");
                put_num_member(out, "repo_id", 700_000 + (hash >> 8) % REPOS.len() as u64);
                put_str_member(out, "visibility", "private");
            }
            Target::Team => {
                out.put_slice(b"\"team\":\"");
                out.put_slice(s.org.as_bytes());
                out.put_slice(b"/team-");
                put_dec(out, (hash >> 12) % 9, 1);
                out.put_slice(b"\",");
                put_str_member(out, "user", LOGINS[(actor + 1) % LOGINS.len()]);
            }
            Target::User => {
                put_str_member(out, "user", LOGINS[(actor + 3) % LOGINS.len()]);
                put_num_member(out, "user_id", 583_231 + ((actor + 3) % LOGINS.len()) as u64);
            }
            Target::Token => {
                put_str_member(out, "programmatic_access_type", "Fine-grained personal access token");
            }
        }
        out.put_slice(b"\"user_agent\":\"");
        out.put_slice(USER_AGENT.as_bytes());
        out.put_slice(b"\"}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(response: &reqwest::Response, rel: &str) -> Option<String> {
        let value = response.headers().get("link")?.to_str().ok()?.to_owned();
        value
            .split(", ")
            .find(|l| l.ends_with(&format!("rel=\"{rel}\"")))
            .map(|l| l.trim_start_matches('<').split('>').next().unwrap_or_default().to_owned())
    }

    async fn page(response: reqwest::Response) -> Vec<serde_json::Value> {
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
    }

    #[test]
    fn events_are_valid_json_in_githubs_shape_with_unique_ids() {
        let settings = GithubSimBuilder::default();
        let feed = Feed::new(FeedSettings { start_ms: Some(1_606_929_874_512), ..settings.feed.clone() });
        let sim = Shared { base_url: String::new(), prefix: "", feed, settings, cursor_epoch: AtomicU64::new(0) };
        for i in [0, 1, 9, 42, 999] {
            let mut out = BytesMut::new();
            sim.render_event(&mut out, i);
            let event: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
            assert_eq!(event["_document_id"], document_id(i));
            assert_eq!(event["@timestamp"], event["created_at"]);
            assert_eq!(event["action"].as_str().unwrap().starts_with("git."), sim.is_git(i), "{event}");
            assert!(event["actor_ip"].as_str().unwrap().starts_with("10."));
            assert!(out.len() < 700, "{} bytes", out.len());
        }
        let ids: std::collections::HashSet<String> = (0..10_000).map(document_id).collect();
        assert_eq!(ids.len(), 10_000);
        assert_eq!(document_id(7).len(), 22);
        assert_eq!(index_of_document(&document_id(123_456)), Some(123_456));
        assert_eq!(index_of_document("AAAAAAAAAAAAAAAAAAAAAA"), None);
    }

    #[tokio::test]
    async fn pages_follow_opaque_cursors_with_links_on_the_numeric_path() {
        let start = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        let sim = GithubSim::builder().events(25).first_event_at(start).token("ghp_t").start().await.unwrap();
        let client = reqwest::Client::new();
        let get = |url: String| client.get(url).header("authorization", "Bearer ghp_t").send();
        let first = get(format!(
            "{}/orgs/acme-corp/audit-log?phrase=created:%3E%3D2023-11-14T22:13:20%2B00:00&order=asc&per_page=10",
            sim.base_url()
        ))
        .await
        .unwrap();
        assert_eq!(first.status(), 200);
        assert_eq!(first.headers()["x-ratelimit-resource"], "audit_log");
        let next = link(&first, "next").expect("a next link");
        assert!(next.starts_with(&format!("{}/organizations/4000123/audit-log?", sim.base_url())), "{next}");
        assert!(next.contains("after=") && next.ends_with("&before=") && next.contains("phrase="), "{next}");
        let events = page(first).await;
        assert_eq!(events.len(), 10);
        assert_eq!(events[0]["_document_id"], document_id(0));
        assert!(events.iter().all(|e| !e["action"].as_str().unwrap().starts_with("git.")), "org: web only");
        let second = get(next.clone()).await.unwrap();
        assert_eq!(second.status(), 200, "{next}");
        let next = link(&second, "next").unwrap();
        let events = page(second).await;
        // Web events only: index 9 and 19 are Git events.
        assert_eq!(events[0]["_document_id"], document_id(11));
        let last = get(next).await.unwrap();
        assert!(link(&last, "next").is_none(), "the last page has no next link by default");
        assert!(link(&last, "first").is_some());
        assert_eq!(page(last).await.len(), 25 - 2 - 20);

        let denied = client.get(format!("{}/orgs/acme-corp/audit-log?order=asc", sim.base_url())).send().await.unwrap();
        assert_eq!(denied.status(), 401);
        let other = get(format!("{}/orgs/other/audit-log?order=asc", sim.base_url())).await.unwrap();
        assert_eq!(other.status(), 404);
        let desc = get(format!("{}/orgs/acme-corp/audit-log", sim.base_url())).await.unwrap();
        assert_eq!(desc.status(), 422);
        let forged = get(format!("{}/orgs/acme-corp/audit-log?order=asc&after=abcd", sim.base_url())).await.unwrap();
        assert_eq!(forged.status(), 422);
    }

    #[tokio::test]
    async fn the_enterprise_endpoint_filters_by_include_and_cursors_expire() {
        let sim =
            GithubSim::builder().events(30).enterprise_server(true).next_on_last_page(true).start().await.unwrap();
        assert!(sim.base_url().ends_with("/api/v3"));
        let url = format!("{}/enterprises/acme-ent/audit-log?order=asc&per_page=100&include=git", sim.base_url());
        let response = reqwest::get(url).await.unwrap();
        let next = link(&response, "next").expect("next on the last page");
        let events = page(response).await;
        assert_eq!(
            events.iter().map(|e| e["_document_id"].as_str().unwrap().to_owned()).collect::<Vec<_>>(),
            [9, 19, 29].map(document_id)
        );
        let caught_up = reqwest::get(next.clone()).await.unwrap();
        assert_eq!(link(&caught_up, "next").as_deref(), Some(next.as_str()), "an empty page's next is itself");
        assert!(page(caught_up).await.is_empty());
        sim.append(10);
        assert_eq!(page(reqwest::get(next.clone()).await.unwrap()).await[0]["_document_id"], document_id(39));
        sim.expire_cursors();
        assert_eq!(reqwest::get(next).await.unwrap().status(), 422);
        let all = format!("{}/enterprises/13827/audit-log?order=asc&per_page=5&include=all", sim.base_url());
        assert_eq!(page(reqwest::get(all).await.unwrap()).await.len(), 5);
        let bad = format!("{}/enterprises/acme-ent/audit-log?order=asc&include=everything", sim.base_url());
        assert_eq!(reqwest::get(bad).await.unwrap().status(), 422);
    }

    #[tokio::test]
    async fn rate_limits_answer_403_or_429_and_no_enterprise_cloud_is_404() {
        let sim = GithubSim::builder()
            .rate_limit(3, Duration::from_secs(3600))
            .inject(Planted::Secondary, [1])
            .inject(Planted::TooManyRequests, [2])
            .start()
            .await
            .unwrap();
        let url = format!("{}/orgs/acme-corp/audit-log?order=asc", sim.base_url());
        let secondary = reqwest::get(&url).await.unwrap();
        assert_eq!((secondary.status().as_u16(), secondary.headers()["retry-after"].to_str().unwrap()), (403, "1"));
        assert!(secondary.text().await.unwrap().contains("secondary rate limit"));
        assert_eq!(reqwest::get(&url).await.unwrap().status(), 429);
        let ok = reqwest::get(&url).await.unwrap();
        assert_eq!((ok.status().as_u16(), ok.headers()["x-ratelimit-remaining"].to_str().unwrap()), (200, "0"));
        let exhausted = reqwest::get(&url).await.unwrap();
        assert_eq!(
            (exhausted.status().as_u16(), exhausted.headers()["x-ratelimit-remaining"].to_str().unwrap()),
            (403, "0")
        );
        assert_eq!(sim.rate_limited(), 3);

        let plain = GithubSim::builder().enterprise_cloud(false).start().await.unwrap();
        let url = format!("{}/orgs/acme-corp/audit-log?order=asc", plain.base_url());
        assert_eq!(reqwest::get(url).await.unwrap().status(), 404);
    }

    /// Run with `cargo test --release -p logcrawl-sim -- --ignored --nocapture github_serving_speed`.
    #[tokio::test(flavor = "current_thread")]
    #[ignore = "a throughput measurement; run in release"]
    async fn github_serving_speed() {
        let sim = GithubSim::builder().events(1_000_000).git_every(0).start().await.unwrap();
        let client = reqwest::Client::new();
        let started = std::time::Instant::now();
        let mut url = format!(
            "{}/orgs/acme-corp/audit-log?phrase=created:%3E%3D2000-01-01&order=asc&per_page=100",
            sim.base_url()
        );
        loop {
            let response = client.get(&url).send().await.unwrap();
            let next = link(&response, "next");
            let _body = response.bytes().await.unwrap();
            match next {
                Some(next) => url = next,
                None => break,
            }
        }
        crate::util::report_serving_speed("events", sim.events_served(), started);
    }
}
