//! Reading other journals' exports: Day One's JSON export and duo's own `--json` output.
//!
//! Parsing checks the whole file before anything is written, so a malformed file is
//! rejected with the place that is wrong and nothing is half-imported. Ids are stable, so
//! importing the same file twice adds nothing the second time.

use crate::model::{Kind, Status};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// One entry read from an import file, not yet attributed to anyone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    pub id: String,
    pub kind: Kind,
    pub created_at: i64,
    pub edited_at: i64,
    pub body: String,
    pub tags: Vec<String>,
    pub status: Option<Status>,
    pub private: bool,
    /// The author id and name the file gives (duo's own format only).
    pub author_id: Option<String>,
    pub author: Option<String>,
}

/// Which format a file was in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    DayOne,
    Duo,
}

/// Why a file could not be imported: where, and what is wrong there.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {reason}")]
pub struct ImportError {
    /// `line L, column C` and/or the field path, e.g. `entries[3].creationDate`.
    pub location: String,
    pub reason: String,
}

/// The result of parsing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub format: Format,
    pub entries: Vec<Imported>,
    /// Entries without text (Day One photo-only entries), left out.
    pub skipped_empty: usize,
}

#[derive(Deserialize)]
struct DayOneFile {
    entries: Vec<DayOneEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DayOneEntry {
    uuid: String,
    creation_date: String,
    #[serde(default)]
    modified_date: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DuoEntry {
    id: String,
    kind: Kind,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    author_id: Option<String>,
    #[serde(default)]
    device: Option<String>,
    created_at: String,
    #[serde(default)]
    edited_at: Option<String>,
    body: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    private: bool,
    #[serde(default)]
    status: Option<Status>,
    #[serde(default)]
    conflicts: Vec<String>,
    // Fields later versions add to `show --json` are accepted and ignored.
    #[serde(default)]
    acks: Option<serde_json::Value>,
    #[serde(default)]
    reflections: Option<serde_json::Value>,
    #[serde(default)]
    no_replies: Option<serde_json::Value>,
    #[serde(default)]
    prompt: Option<serde_json::Value>,
    // What the exporting device said about its own entries' authenticators: never trusted
    // (an imported entry is sealed afresh by the importing device, as its author's).
    #[serde(default)]
    authentic: Option<serde_json::Value>,
    #[serde(default)]
    authenticity: Option<serde_json::Value>,
    // Which shown fields were not valid (see `crate::text`): about the exporter's view only.
    #[serde(default)]
    not_valid: Option<serde_json::Value>,
}

fn parse_with_path<'de, T: Deserialize<'de>>(text: &'de str) -> Result<T, ImportError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let at = format!("line {}, column {}", inner.line(), inner.column());
        let location = if path == "." || path.is_empty() {
            at
        } else {
            format!("{at} ({path})")
        };
        let mut reason = inner.to_string();
        // serde_json appends " at line L column C"; the location already says it.
        if let Some(i) = reason.find(" at line ") {
            reason.truncate(i);
        }
        ImportError { location, reason }
    })
}

/// Parse an RFC 3339 timestamp to milliseconds since the epoch.
pub fn parse_time(s: &str) -> Option<i64> {
    s.parse::<jiff::Timestamp>().ok().map(|t| t.as_millisecond())
}

fn stable_id(source: &str, key: &str) -> String {
    let d = Sha256::digest(format!("duo-import/{source}/{key}").as_bytes());
    crate::hex(&d[..16])
}

fn is_id(s: &str) -> bool {
    s.len() == 32 && crate::is_lower_hex(s)
}

/// Parse an import file (Day One JSON export or duo's own `--json` output).
///
/// `person` (the importing person's id) makes ids of Day One entries stable for that person
/// only: re-importing adds nothing twice, while two people importing the same file never
/// create the same root key (which would hide one entry behind the other).
pub fn parse(text: &str, person: &str) -> Result<Parsed, ImportError> {
    let first = text.trim_start().chars().next();
    match first {
        Some('{') => parse_day_one(text, person),
        Some('[') => parse_duo(text),
        _ => Err(ImportError {
            location: "line 1".into(),
            reason: "not a Day One JSON export (an object with \"entries\") nor duo --json output (an array)".into(),
        }),
    }
}

fn parse_day_one(text: &str, person: &str) -> Result<Parsed, ImportError> {
    let file: DayOneFile = parse_with_path(text)?;
    let mut entries = Vec::with_capacity(file.entries.len());
    let mut skipped_empty = 0;
    for (i, e) in file.entries.into_iter().enumerate() {
        let bad = |field: &str, reason: String| ImportError {
            location: format!("entries[{i}].{field}"),
            reason,
        };
        if e.uuid.trim().is_empty() {
            return Err(bad("uuid", "is empty".into()));
        }
        let created_at = parse_time(&e.creation_date).ok_or_else(|| {
            bad(
                "creationDate",
                format!("'{}' is not an RFC 3339 date-time", e.creation_date),
            )
        })?;
        let edited_at = match &e.modified_date {
            Some(m) => {
                parse_time(m).ok_or_else(|| bad("modifiedDate", format!("'{m}' is not an RFC 3339 date-time")))?
            }
            None => created_at,
        };
        let body = e.text.unwrap_or_default().trim_end().to_string();
        if body.trim().is_empty() {
            skipped_empty += 1;
            continue;
        }
        entries.push(Imported {
            id: stable_id("dayone", &format!("{person}/{}", e.uuid)),
            kind: Kind::Reflection,
            created_at,
            edited_at: edited_at.max(created_at),
            body,
            tags: crate::normalize_tags(&e.tags).map_err(|r| bad("tags", r))?,
            status: None,
            private: false,
            author_id: None,
            author: None,
        });
    }
    Ok(Parsed {
        format: Format::DayOne,
        entries,
        skipped_empty,
    })
}

fn parse_duo(text: &str) -> Result<Parsed, ImportError> {
    let list: Vec<DuoEntry> = parse_with_path(text)?;
    let mut entries = Vec::with_capacity(list.len());
    for (i, e) in list.into_iter().enumerate() {
        let bad = |field: &str, reason: String| ImportError {
            location: format!("[{i}].{field}"),
            reason,
        };
        if !is_id(&e.id) {
            return Err(bad(
                "id",
                format!("'{}' is not a duo id (32 lowercase hex characters)", e.id),
            ));
        }
        let created_at = parse_time(&e.created_at)
            .ok_or_else(|| bad("created_at", format!("'{}' is not an RFC 3339 date-time", e.created_at)))?;
        let edited_at = match &e.edited_at {
            Some(m) => parse_time(m).ok_or_else(|| bad("edited_at", format!("'{m}' is not an RFC 3339 date-time")))?,
            None => created_at,
        };
        if e.body.trim().is_empty() {
            return Err(bad("body", "is empty".into()));
        }
        if e.status.is_some() && e.kind != Kind::Boundary {
            return Err(bad("status", "only boundaries have a status".into()));
        }
        let _ = (
            &e.author,
            &e.device,
            &e.conflicts,
            &e.acks,
            &e.reflections,
            &e.no_replies,
            &e.prompt,
            &e.authentic,
            &e.authenticity,
            &e.not_valid,
        );
        entries.push(Imported {
            id: e.id,
            kind: e.kind,
            created_at,
            edited_at: edited_at.max(created_at),
            body: e.body,
            tags: crate::normalize_tags(&e.tags).map_err(|r| bad("tags", r))?,
            status: if e.kind == Kind::Boundary {
                Some(e.status.unwrap_or(Status::Active))
            } else {
                None
            },
            private: e.private,
            author_id: e.author_id,
            author: e.author.clone(),
        });
    }
    Ok(Parsed {
        format: Format::Duo,
        entries,
        skipped_empty: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_one_export_parses_with_stable_ids() {
        let text = r#"{"metadata":{"version":"1.0"},"entries":[
            {"uuid":"A1","creationDate":"2024-03-01T10:00:00Z","text":"Walked by the river","tags":["walks"],"starred":false},
            {"uuid":"A2","creationDate":"2024-03-02T10:00:00Z","photos":[]}]}"#;
        let p = parse(text, "p").unwrap();
        assert_eq!(p.format, Format::DayOne);
        assert_eq!(p.entries.len(), 1);
        assert_eq!(p.skipped_empty, 1);
        assert_eq!(p.entries[0].tags, vec!["walks"]);
        assert_eq!(p.entries[0].created_at, 1_709_287_200_000);
        assert_eq!(parse(text, "p").unwrap().entries[0].id, p.entries[0].id);
        assert!(is_id(&p.entries[0].id));
        assert_ne!(
            parse(text, "q").unwrap().entries[0].id,
            p.entries[0].id,
            "ids differ per person"
        );
    }

    #[test]
    fn malformed_day_one_names_the_field() {
        let text = "{\"entries\":[\n{\"uuid\":\"A1\",\"creationDate\":\"yesterday\",\"text\":\"x\"}]}";
        let e = parse(text, "p").unwrap_err();
        assert_eq!(e.location, "entries[0].creationDate");
        assert!(e.reason.contains("yesterday"), "{e}");
        let e = parse("{\"entries\":[\n{\"creationDate\":\"2024-01-01T00:00:00Z\"}]}", "p").unwrap_err();
        assert!(e.location.contains("line 2"), "{e}");
        assert!(e.reason.contains("uuid"), "{e}");
    }

    #[test]
    fn broken_json_gives_line_and_column() {
        let e = parse("[\n{\"id\": \n", "p").unwrap_err();
        assert!(e.location.starts_with("line 3"), "{e}");
        let e = parse("hello", "p").unwrap_err();
        assert!(e.reason.contains("Day One"));
    }

    #[test]
    fn duo_format_round_trip_fields() {
        let text = r#"[{"id":"0123456789abcdef0123456789abcdef","kind":"boundary","author":"Alice","author_id":"p","device":"d",
            "created_at":"2026-11-01T08:00:00Z","edited_at":"2026-11-02T08:00:00Z","body":"I need quiet mornings",
            "tags":["home"],"private":false,"status":"revisit","conflicts":[]}]"#;
        let p = parse(text, "p").unwrap();
        assert_eq!(p.format, Format::Duo);
        let e = &p.entries[0];
        assert_eq!(e.kind, Kind::Boundary);
        assert_eq!(e.status, Some(Status::Revisit));
        assert_eq!(e.edited_at - e.created_at, 86_400_000);
        let marked = text.replace("\"conflicts\":[]", "\"conflicts\":[],\"not_valid\":[\"author\"]");
        assert_eq!(
            parse(&marked, "p").unwrap().entries.len(),
            1,
            "list --json output imports"
        );
        let bad = text.replace("0123456789abcdef0123456789abcdef", "xyz");
        assert_eq!(parse(&bad, "p").unwrap_err().location, "[0].id");
        let bad = text.replace("\"boundary\"", "\"poem\"");
        assert!(parse(&bad, "p").unwrap_err().location.contains("[0].kind"));
    }
}
