//! The plain data types of a journal: what an entry is, independent of automerge.

use serde::{Deserialize, Serialize};

/// What kind of entry this is. Its name (on disk, in JSON, on the command line) is the
/// lowercase variant name: `Display`, `FromStr` and [`Kind::as_str`] all use it.
#[derive(strum::Display, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase", parse_err_ty = String, parse_err_fn = unknown_kind)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A reflection: the default, an "I" statement about how something felt.
    Reflection,
    /// A boundary: something one partner needs, with a status that can change.
    Boundary,
    /// An appreciation: a thank-you, small or large.
    Appreciation,
}

impl Kind {
    /// All kinds, in display order.
    pub const ALL: [Kind; 3] = [Kind::Reflection, Kind::Boundary, Kind::Appreciation];

    /// The stable lowercase name used on disk, in JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

fn unknown_kind(s: &str) -> String {
    format!("unknown kind '{s}' (expected reflection, boundary or appreciation)")
}

/// Where a boundary stands. Only boundaries have a status. Named like [`Kind`]: the
/// lowercase variant name.
#[derive(strum::Display, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase", parse_err_ty = String, parse_err_fn = unknown_status)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// In force.
    Active,
    /// Worth talking about again.
    Revisit,
    /// No longer in force; kept for its history.
    Retired,
}

impl Status {
    /// All statuses, in the order `list --kind boundary` shows them.
    pub const ALL: [Status; 3] = [Status::Active, Status::Revisit, Status::Retired];

    /// The stable lowercase name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

fn unknown_status(s: &str) -> String {
    format!("unknown status '{s}' (expected active, revisit or retired)")
}

/// One journal entry as read from the document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The full id: 32 lowercase hex characters.
    pub id: String,
    /// Reflection, boundary or appreciation.
    pub kind: Kind,
    /// The person id of the author.
    pub author: String,
    /// The device (endpoint id) the entry was written on.
    pub device: String,
    /// Milliseconds since the Unix epoch, UTC.
    pub created_at: i64,
    /// Milliseconds since the Unix epoch, UTC, of the last edit (equal to `created_at` if never edited).
    pub edited_at: i64,
    /// The text. When concurrent edits conflict, this is the one automerge picks everywhere.
    pub body: String,
    /// Tags, in the order given.
    pub tags: Vec<String>,
    /// A boundary's status; `None` for other kinds.
    pub status: Option<Status>,
    /// Other concurrent versions of the body, not yet resolved by the author. Empty when none.
    pub conflicts: Vec<String>,
    /// First-format authenticators (`v1:`…) of an entry from before per-field seals: one
    /// normally, several after concurrent edits, none for newer entries and for entries
    /// written before authenticators existed.
    #[serde(default)]
    pub auth: Vec<String>,
    /// The author asked for no replies ("just hold this"): no acknowledgements or
    /// reflections are taken or shown. On when any concurrent value is on.
    pub no_replies: bool,
    /// The prompt this entry answers (a prompt id), if it is an answer.
    #[serde(default)]
    pub prompt: Option<String>,
    /// Everything stored to check the entry's seals (see [`crate::check`]).
    #[serde(default)]
    pub seals: Seals,
}

/// The seals of an entry as stored, with what they cover: what [`crate::check`] reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seals {
    /// The origin seal (`seal`): every concurrent value (one normally; none for entries of
    /// the first format).
    pub origin: Vec<String>,
    /// The fields present when the entry was written (`made`, covered by the origin seal),
    /// each concurrent value.
    pub made: Vec<String>,
    /// Each sealed field present (`body`, `kind`, `status`, `no_replies`, `prompt`,
    /// `deleted`, `tag:<tag>`): its values and its seals.
    pub fields: std::collections::BTreeMap<String, Sealed>,
}

impl Entry {
    /// Every concurrent value of sealed field `name`, as sealed: for the body, the body and
    /// its conflicts (kept once); for the others, as stored in [`Seals::fields`].
    pub fn sealed_values(&self, name: &str) -> Vec<&str> {
        if name == crate::schema::BODY {
            std::iter::once(self.body.as_str())
                .chain(self.conflicts.iter().map(String::as_str))
                .collect()
        } else {
            self.seals
                .fields
                .get(name)
                .map(|f| f.values.iter().map(String::as_str).collect())
                .unwrap_or_default()
        }
    }
}

impl Entry {
    /// A boundary's statuses set on two devices at once (neither had the other's change),
    /// when they differ: every one, shown side by side until its author sets the status
    /// again (which writes over all of them). Empty otherwise.
    pub fn status_versions(&self) -> Vec<Status> {
        if self.kind != Kind::Boundary {
            return Vec::new();
        }
        let mut v: Vec<Status> = self
            .sealed_values(crate::schema::STATUS)
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        v.sort_by_key(|s| s.as_str());
        v.dedup();
        if v.len() < 2 { Vec::new() } else { v }
    }
}

impl Seals {
    /// Sealed in the current format (an origin seal or any field seal).
    pub fn is_current_format(&self) -> bool {
        !self.origin.is_empty() || !self.made.is_empty() || self.fields.values().any(|f| !f.seals.is_empty())
    }
}

/// One sealed field as stored: every concurrent value, in the canonical text form that is
/// sealed (`true`/`false` for flags, `+`/`-` for a tag), and every concurrent seal. The
/// body's values are not repeated here: they are the entry's `body` and `conflicts`
/// ([`Entry::sealed_values`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    pub values: Vec<String>,
    pub seals: Vec<String>,
}

impl Entry {
    /// Does the entry match a case-insensitive search for `needle` (already lowercased)?
    pub fn matches(&self, needle_lower: &str) -> bool {
        let has = |text: &String| {
            if text.is_ascii() && needle_lower.is_ascii() {
                // Lowercasing ASCII text is ASCII: compared in place, without a lowercased copy.
                let (hay, needle) = (text.as_bytes(), needle_lower.as_bytes());
                needle.is_empty() || hay.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
            } else {
                text.to_lowercase().contains(needle_lower)
            }
        };
        has(&self.body) || self.tags.iter().any(has) || self.conflicts.iter().any(has)
    }
}

/// Tidy tags: trim, drop a leading `#`, drop duplicates. Tags may contain spaces (Day One's
/// do); an empty tag, one longer than 64 characters or one with control or bidi characters
/// is refused (the rule of [`crate::text::problem`], under which another device's tags are
/// shown).
pub fn normalize_tags(tags: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for raw in tags {
        let t = raw.trim().trim_start_matches('#').trim().to_string();
        if crate::text::problem(&t).is_some() {
            return Err(format!("'{raw}' is not a tag: tags are 1 to 64 printable characters"));
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

/// A new entry to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEntry {
    /// The id to give it; [`crate::new_id`] makes a random one.
    pub id: String,
    pub kind: Kind,
    pub author: String,
    pub device: String,
    pub created_at: i64,
    /// When it was last edited (an import keeps the original's); `created_at` for new entries.
    pub edited_at: i64,
    pub body: String,
    pub tags: Vec<String>,
    /// Only for boundaries; a new boundary defaults to active.
    pub status: Option<Status>,
    /// The author asks for no replies from the start.
    pub no_replies: bool,
    /// The prompt it answers (a prompt id).
    pub prompt: Option<String>,
}

/// A change to an existing entry. `None` fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryPatch {
    pub body: Option<String>,
    /// The tags it has afterwards: tags not there yet are added, tags there now and not in
    /// the list are removed (only those: a tag another device adds meanwhile stays).
    pub tags: Option<Vec<String>>,
    pub status: Option<Status>,
    pub no_replies: Option<bool>,
    /// When the edit was made (milliseconds since the epoch).
    pub edited_at: i64,
}

/// A person in the space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id: String,
    pub name: String,
}

/// A device of a person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// The device's endpoint id (hex of its public key).
    pub id: String,
    /// The person id it belongs to.
    pub person: String,
    pub label: String,
    pub added_at: i64,
}

/// A signature by device `by` vouching for device `device`'s record (its person, label and
/// time added). Stored under the root key `endorse/<device>/<by>`. What makes one valid is
/// decided in duo-device's `membership` module; this crate only keeps them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endorsement {
    pub device: String,
    pub by: String,
    /// The ed25519 signature, 128 hex characters.
    pub sig: String,
    pub at: i64,
}

/// Device `by` revoking device `device`, signed. Stored under `revoke/<device>/<by>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub device: String,
    pub by: String,
    /// The ed25519 signature, 128 hex characters.
    pub sig: String,
    pub at: i64,
}

/// A person's name as one of their devices signed it. Stored under `name/<person>/<by>`:
/// the partner's devices cannot rename you on your own screens, and an overwrite of
/// `person/<id>` is shown as such (duo-device's `membership` decides what counts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedName {
    pub person: String,
    pub by: String,
    pub name: String,
    /// The ed25519 signature, 128 hex characters.
    pub sig: String,
    pub at: i64,
}

/// A new person key after one of the person's devices was revoked, written by the device
/// that revoked it. Stored under `rotate/<person>/<key>`; what makes one valid is decided in
/// duo-device's `membership` module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    pub person: String,
    /// The new key's public id (8 hex characters).
    pub key: String,
    /// The id of the key it retires (the one its writer sealed with until then).
    pub retires: String,
    pub by: String,
    pub at: i64,
    /// The ed25519 signature by `by`, 128 hex characters.
    pub sig: String,
    /// The new key, age-encrypted to each remaining device of the person (device id →
    /// age file).
    pub keys: std::collections::BTreeMap<String, Vec<u8>>,
}

/// The signed membership records of a space: endorsements and revocations, keyed by
/// `<device>/<by>`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signatures {
    pub endorsements: std::collections::BTreeMap<String, Endorsement>,
    pub revocations: std::collections::BTreeMap<String, Revocation>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listening::ReplyKind;
    use crate::prompts::Depth;

    #[test]
    fn a_search_ignores_case_in_ascii_and_in_any_other_script() {
        let mut e = Entry {
            id: "00".into(),
            kind: Kind::Reflection,
            author: "p".into(),
            device: "d".into(),
            created_at: 0,
            edited_at: 0,
            body: "I felt CLOSE to you by the River".into(),
            tags: vec!["Walks".into()],
            status: None,
            conflicts: vec!["Ärger über den Tag".into()],
            auth: Vec::new(),
            no_replies: false,
            prompt: None,
            seals: Seals::default(),
        };
        for hit in ["river", "close to", "walks", "ärger", "über", ""] {
            assert!(e.matches(hit), "{hit:?}");
        }
        for miss in ["rivers", "lake", "closeto", "ärgern"] {
            assert!(!e.matches(miss), "{miss:?}");
        }
        // Outside ASCII the text is lowercased as before: the Kelvin sign is a "k".
        e.body = "\u{212A}indness".into();
        assert!(e.matches("kindness"));
    }

    /// The names of the string enums are stored in documents, shown in JSON and typed on the
    /// command line: each one's name, `Display`, `FromStr` (exact, case-sensitive) and the
    /// message for an unknown name stay as they are.
    #[test]
    fn the_string_enums_keep_their_names_and_messages() {
        fn names<T: Copy + std::fmt::Display + std::str::FromStr<Err = String> + PartialEq + std::fmt::Debug>(
            all: &[T],
            as_str: fn(T) -> &'static str,
            expected: &[&str],
        ) {
            let got: Vec<&str> = all.iter().map(|v| as_str(*v)).collect();
            assert_eq!(got, expected);
            for v in all {
                assert_eq!(v.to_string(), as_str(*v));
                assert_eq!(as_str(*v).parse::<T>(), Ok(*v));
                assert!(
                    as_str(*v).to_uppercase().parse::<T>().is_err(),
                    "names are case-sensitive"
                );
            }
        }
        names(&Kind::ALL, Kind::as_str, &["reflection", "boundary", "appreciation"]);
        names(&Status::ALL, Status::as_str, &["active", "revisit", "retired"]);
        names(&Depth::ALL, Depth::as_str, &["light", "medium", "deep"]);
        names(
            &ReplyKind::ALL,
            ReplyKind::as_str,
            &["heard", "thanks", "lets-talk", "reflection", "confirm", "correct"],
        );
        let refused = [
            "note".parse::<Kind>().unwrap_err(),
            "Active".parse::<Status>().unwrap_err(),
            "shallow".parse::<Depth>().unwrap_err(),
            "lets_talk".parse::<ReplyKind>().unwrap_err(),
        ];
        assert_eq!(
            refused,
            [
                "unknown kind 'note' (expected reflection, boundary or appreciation)",
                "unknown status 'Active' (expected active, revisit or retired)",
                "unknown depth 'shallow' (expected light, medium or deep)",
                "unknown reply kind 'lets_talk'",
            ]
        );
    }
}
