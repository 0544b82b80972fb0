//! The query of a Graph list request as the simulator reads it: `$filter` time bounds, `$skiptoken`
//! positions, the next link.

use axum::http::Uri;

use super::{Log, Shared};
use crate::util::splitmix64;

const SKIP_KEY: u64 = 0x6772_6170_685f_736b;

/// Time bounds of a `$filter`, in epoch ns: `(bound, inclusive)` each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Bounds {
    pub(super) lower: Option<(i128, bool)>,
    pub(super) upper: Option<(i128, bool)>,
}

/// Reads a `$filter` of `log`'s time bounds: `<property> <op> <instant>` clauses joined by ` and `.
pub(super) fn parse_filter(log: Log, filter: &str) -> Result<Bounds, String> {
    let (lower_op, upper_op) = log.operators();
    let mut bounds = Bounds::default();
    for clause in filter.split(" and ") {
        let parts: Vec<&str> = clause.split_whitespace().collect();
        let [property, op, value] = parts[..] else { return Err(format!("Invalid filter clause: '{clause}'")) };
        if property != log.time_property() {
            return Err(format!("Invalid filter clause: '{property}' is not a property this log filters on"));
        }
        let at: jiff::Timestamp =
            value.parse().map_err(|_| format!("Invalid filter clause: '{value}' is not a DateTimeOffset"))?;
        let slot = match op {
            _ if op == lower_op => &mut bounds.lower,
            _ if op == upper_op => &mut bounds.upper,
            _ => return Err(format!("Invalid filter clause: the operator '{op}' is not supported on '{property}'")),
        };
        if slot.replace((at.as_nanosecond(), op == "ge" || op == "le")).is_some() {
            return Err(format!("Invalid filter clause: '{op}' given twice"));
        }
    }
    Ok(bounds)
}

/// The `$skiptoken` that goes on below event `index`.
pub(super) fn skiptoken(index: u64) -> String {
    let value = index ^ SKIP_KEY;
    format!("{value:016x}{:08x}", splitmix64(value) as u32)
}

pub(super) fn parse_skiptoken(token: &str) -> Option<u64> {
    let (value, check) = (token.get(..16)?, token.get(16..)?);
    let value = u64::from_str_radix(value, 16).ok()?;
    (check.len() == 8 && u32::from_str_radix(check, 16).ok()? == splitmix64(value) as u32).then_some(value ^ SKIP_KEY)
}

/// The request's URL with `$skiptoken` set to `token` (the rest of its query as the client sent it).
pub(super) fn next_link(sim: &Shared, uri: &Uri, token: &str) -> String {
    let kept: Vec<&str> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.starts_with("$skiptoken=") && !pair.starts_with("%24skiptoken="))
        .collect();
    let query =
        kept.into_iter().chain(std::iter::once(format!("$skiptoken={token}").as_str())).collect::<Vec<_>>().join("&");
    format!("{}{}?{query}", sim.base_url, uri.path())
}
