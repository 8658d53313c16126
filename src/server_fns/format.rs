//! Times as the pages show them ("3 days ago", "in 5 days", "Nov 27, 2026, 22:31 UTC"), in
//! one place for every page; computed on the server so the browser renders the same text.

use time::macros::format_description;
use time::OffsetDateTime;

use crate::rules::limits::DAY_MS;

/// "just now", "3 minutes ago", "5 days ago"…
pub fn ago(at: i64, now: i64) -> String {
    match span(now.saturating_sub(at)) {
        None => "just now".to_owned(),
        Some(span) => format!("{span} ago"),
    }
}

/// "in 5 days", "in 3 hours", "in less than a minute".
pub fn ahead(at: i64, now: i64) -> String {
    match span(at.saturating_sub(now)) {
        None => "in less than a minute".to_owned(),
        Some(span) => format!("in {span}"),
    }
}

/// A duration in its largest whole unit; none under a minute.
fn span(ms: i64) -> Option<String> {
    const UNITS: [(i64, &str); 6] = [
        (365 * DAY_MS, "year"),
        (30 * DAY_MS, "month"),
        (DAY_MS, "day"),
        (3600 * 1000, "hour"),
        (60 * 1000, "minute"),
        (i64::MAX, ""),
    ];
    let (size, unit) = UNITS.into_iter().find(|(size, _)| ms >= *size)?;
    if unit.is_empty() {
        return None;
    }
    let count = ms / size;
    Some(format!("{count} {unit}{}", if count == 1 { "" } else { "s" }))
}

fn at(millis: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// "Nov 27, 2026"
pub fn date(millis: i64) -> String {
    at(millis)
        .format(format_description!("[month repr:short] [day padding:none], [year]"))
        .unwrap_or_default()
}

/// "Nov 27, 2026, 22:31 UTC"
pub fn date_time(millis: i64) -> String {
    at(millis)
        .format(format_description!("[month repr:short] [day padding:none], [year], [hour]:[minute] UTC"))
        .unwrap_or_default()
}
