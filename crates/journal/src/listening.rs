//! Listening without pressure: what a reader sends back on a partner's entry, and what the
//! author answers. Each one is its own root key `ack/<entry id>/<ack id>`, written once by
//! one device and never changed, so replicas never conflict over them.
//!
//! - `heard`, `thanks`, `lets-talk`: an acknowledgement (no text), by the partner;
//! - `reflection`: "what I heard is …" (text), by the partner;
//! - `confirm` / `correct`: the author's answer to a reflection (`of` names it; a
//!   correction has text).
//!
//! Nothing here is sent unless the reader chooses to: there are no read receipts, no
//! "seen", no counts. What is shown is filtered on read ([`replies`]), so a modified client
//! cannot push acknowledgements past an author's "no replies" or reply to its own entries.

use crate::model::Entry;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What an `ack/…` key holds. Its stable name (stored in the document, shown in JSON) is
/// the kebab-case variant name (`lets-talk`); serde keeps the variant names as they are.
#[derive(strum::Display, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case", parse_err_ty = String, parse_err_fn = unknown_reply_kind)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ReplyKind {
    /// "I heard you."
    Heard,
    /// "Thank you for sharing this."
    Thanks,
    /// "I'd like to talk about this."
    LetsTalk,
    /// The reader's own words for what they heard.
    Reflection,
    /// The author: "yes, that's it."
    Confirm,
    /// The author: "not quite — …".
    Correct,
}

impl ReplyKind {
    /// Every kind.
    pub const ALL: [ReplyKind; 6] = [
        ReplyKind::Heard,
        ReplyKind::Thanks,
        ReplyKind::LetsTalk,
        ReplyKind::Reflection,
        ReplyKind::Confirm,
        ReplyKind::Correct,
    ];

    /// The stable name stored in the document and shown in JSON.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// An acknowledgement (no text) rather than a reflection or an answer to one.
    pub fn is_ack(self) -> bool {
        matches!(self, ReplyKind::Heard | ReplyKind::Thanks | ReplyKind::LetsTalk)
    }

    /// Sent by the reader of an entry (not its author).
    pub fn is_readers(self) -> bool {
        self.is_ack() || self == ReplyKind::Reflection
    }
}

fn unknown_reply_kind(s: &str) -> String {
    format!("unknown reply kind '{s}'")
}

/// One acknowledgement, reflection or answer, as stored under `ack/<entry>/<id>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// Its own id (32 hex characters).
    pub id: String,
    /// The entry it is about.
    pub entry: String,
    /// The person who sent it.
    pub by: String,
    /// The device it was written on.
    pub device: String,
    pub kind: ReplyKind,
    /// Milliseconds since the epoch.
    pub at: i64,
    /// A reflection's or correction's words.
    pub text: Option<String>,
    /// For `confirm` / `correct`: the id of the reflection answered.
    pub of: Option<String>,
    /// Its seals as stored (written by [`crate::SpaceDoc::put_ack`]; ignored when writing).
    #[serde(default)]
    pub seals: Vec<String>,
}

/// A lift of an entry's "no replies", as stored under `held/<entry>/<id>`: which switch-on
/// writes (`true` values of `no_replies`, by op id) it ended. A reply written neither
/// before such a switch-on nor after the lift stays hidden for good
/// ([`crate::SpaceDoc::held_among`]); only a record its entry's author sealed counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// Its own id (32 hex characters).
    pub id: String,
    /// The entry whose "no replies" was lifted.
    pub entry: String,
    /// The person who lifted it (the entry's author, for a record that counts).
    pub by: String,
    /// The device it was written on.
    pub device: String,
    /// Milliseconds since the epoch.
    pub at: i64,
    /// The op ids (`<counter>@<actor>`) of the `true` values the lift wrote over.
    pub ended: Vec<String>,
    /// Its seals as stored.
    #[serde(default)]
    pub seals: Vec<String>,
}

/// A reflection with the author's answers to it, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reflected<'a> {
    pub reflection: &'a Ack,
    pub answers: Vec<&'a Ack>,
}

/// What is shown under an entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replies<'a> {
    /// `heard` / `thanks` / `lets-talk`, oldest first.
    pub acks: Vec<&'a Ack>,
    /// Reflections, oldest first, each with its answers.
    pub reflections: Vec<Reflected<'a>>,
}

impl Replies<'_> {
    pub fn is_empty(&self) -> bool {
        self.acks.is_empty() && self.reflections.is_empty()
    }
}

/// The acks stored for `entry_id` (keys of `acks` are `<entry id>/<ack id>`).
pub fn acks_of<'a>(acks: &'a BTreeMap<String, Ack>, entry_id: &str) -> impl Iterator<Item = &'a Ack> + 'a {
    let prefix = format!("{entry_id}/");
    acks.range(prefix.clone()..)
        .take_while(move |(k, _)| k.starts_with(&prefix))
        .map(|(_, a)| a)
}

/// What may be shown under `entry`: nothing when its author asked for no replies (whatever
/// a modified client wrote); acknowledgements and reflections only from someone other than
/// the author; answers only from the author, and only to a reflection that is shown.
pub fn replies<'a>(acks: &'a BTreeMap<String, Ack>, entry: &Entry) -> Replies<'a> {
    replies_except(acks, entry, |_| false)
}

/// [`replies`], leaving out the replies `held` says a lift of "no replies" keeps hidden
/// (see [`crate::View::is_held`]), and the answers to a reflection left out.
pub fn replies_except<'a>(acks: &'a BTreeMap<String, Ack>, entry: &Entry, held: impl Fn(&Ack) -> bool) -> Replies<'a> {
    let mut out = Replies::default();
    if entry.no_replies {
        return out;
    }
    let mut all: Vec<&Ack> = acks_of(acks, &entry.id).filter(|a| !held(a)).collect();
    all.sort_by(|a, b| a.at.cmp(&b.at).then(a.id.cmp(&b.id)));
    for a in &all {
        if a.kind.is_ack() && a.by != entry.author {
            out.acks.push(a);
        } else if a.kind == ReplyKind::Reflection && a.by != entry.author && a.text.is_some() {
            out.reflections.push(Reflected {
                reflection: a,
                answers: Vec::new(),
            });
        }
    }
    for a in &all {
        if matches!(a.kind, ReplyKind::Confirm | ReplyKind::Correct)
            && a.by == entry.author
            && (a.kind == ReplyKind::Confirm || a.text.is_some())
            && let Some(r) = out
                .reflections
                .iter_mut()
                .find(|r| Some(&r.reflection.id) == a.of.as_ref())
        {
            r.answers.push(a);
        }
    }
    out
}

/// Why a reply cannot be sent. The messages are meant to be shown as they are.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this is your own entry: acknowledgements and reflections are for your partner's entries")]
    OwnEntry,
    #[error("this entry is in a private notebook, so there is nobody to reply to")]
    Private,
    #[error(
        "{name} asked for no replies on this entry — just to hold it. Nothing was sent; it's okay to simply have read it"
    )]
    NoReplies { name: String },
    #[error("only the author of an entry can confirm or correct a reflection on it")]
    NotAuthor,
    #[error("there is no reflection on this entry to answer yet")]
    NoReflection,
    #[error("you marked this entry \"no replies\", so its reflections are not shown")]
    OwnNoReplies,
}

/// May `me` acknowledge or reflect `entry` (of the shared space unless `private`)?
/// `author_name` is used in the refusal.
pub fn may_reply(entry: &Entry, me: &str, private: bool, author_name: &str) -> Result<(), Refusal> {
    if private {
        return Err(Refusal::Private);
    }
    if entry.author == me {
        return Err(Refusal::OwnEntry);
    }
    if entry.no_replies {
        return Err(Refusal::NoReplies {
            name: author_name.to_string(),
        });
    }
    Ok(())
}

/// The reflection `me` (the author of `entry`) may answer, among those `shown` under it
/// (what [`crate::Judge::replies`] shows): the one whose id starts with `reflection` when
/// given, else the newest.
pub fn answerable<'a>(
    shown: &Replies<'a>,
    entry: &Entry,
    me: &str,
    reflection: Option<&str>,
) -> Result<&'a Ack, Refusal> {
    if entry.author != me {
        return Err(Refusal::NotAuthor);
    }
    if entry.no_replies {
        return Err(Refusal::OwnNoReplies);
    }
    let mut candidates = shown
        .reflections
        .iter()
        .map(|r| r.reflection)
        .filter(|r| reflection.is_none_or(|p| r.id.starts_with(p)));
    match reflection {
        None => candidates.next_back().ok_or(Refusal::NoReflection),
        Some(_) => candidates.next().ok_or(Refusal::NoReflection),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Journal, Kind, MemStorage};

    fn ack(entry: &str, id: &str, by: &str, kind: ReplyKind, at: i64, of: Option<&str>) -> Ack {
        Ack {
            id: id.into(),
            entry: entry.into(),
            by: by.into(),
            device: format!("dev-{by}"),
            kind,
            at,
            text: (!kind.is_ack() && kind != ReplyKind::Confirm).then(|| format!("text {id}")),
            of: of.map(str::to_string),
            seals: Vec::new(),
        }
    }

    fn put(j: &Journal<MemStorage>, a: Ack) {
        let ring = crate::Keyring::for_tests(&a.by);
        j.append(|d| d.put_ack(&a, &ring.sealer(&a.device))).unwrap();
    }

    fn journal_with_entry(no_replies: bool) -> (Journal<MemStorage>, String) {
        crate::testing::journal_with_entry(Kind::Reflection, "I felt alone on Sunday", no_replies)
    }

    #[test]
    fn appended_replies_read_like_a_rebuild_and_follow_the_rules() {
        let (j, id) = journal_with_entry(false);
        put(&j, ack(&id, "a1", "pb", ReplyKind::Heard, 5, None));
        put(&j, ack(&id, "a2", "pb", ReplyKind::Reflection, 6, None));
        // A modified client: the author acknowledging their own entry.
        put(&j, ack(&id, "a3", "pa", ReplyKind::Thanks, 7, None));
        put(&j, ack(&id, "a4", "pa", ReplyKind::Correct, 8, Some("a2")));
        // An answer by the reader is not the author's answer.
        put(&j, ack(&id, "a5", "pb", ReplyKind::Confirm, 9, Some("a2")));
        let read = j.read().unwrap();
        let full = j.contents().unwrap();
        assert_eq!(read.view.acks, full.acks, "the fast read sees what a rebuild sees");
        let e = &read.view.entries[&id];
        let shown = read.view.replies(e);
        assert_eq!(shown.acks.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["a1"]);
        assert_eq!(shown.reflections.len(), 1);
        assert_eq!(
            shown.reflections[0]
                .answers
                .iter()
                .map(|a| a.id.as_str())
                .collect::<Vec<_>>(),
            ["a4"]
        );
        assert_eq!(answerable(&shown, e, "pa", None).unwrap().id, "a2");
        assert_eq!(answerable(&shown, e, "pb", None), Err(Refusal::NotAuthor));
        assert_eq!(may_reply(e, "pa", false, "Alice"), Err(Refusal::OwnEntry));
        assert_eq!(may_reply(e, "pb", true, "Alice"), Err(Refusal::Private));
        assert_eq!(may_reply(e, "pb", false, "Alice"), Ok(()));
    }

    #[test]
    fn a_no_replies_entry_shows_nothing_even_from_a_modified_client() {
        let (j, id) = journal_with_entry(true);
        put(&j, ack(&id, "a1", "pb", ReplyKind::LetsTalk, 5, None));
        let read = j.read().unwrap();
        let e = &read.view.entries[&id];
        assert!(e.no_replies);
        assert!(read.view.replies(e).is_empty());
        assert!(matches!(
            may_reply(e, "pb", false, "Alice"),
            Err(Refusal::NoReplies { .. })
        ));
        // Lifted: what was written while it was on (here, knowing nothing of the entry)
        // stays hidden for good.
        let ring = crate::Keyring::for_tests("pa");
        j.update(|d| d.set_no_replies(&id, false, 10, &ring.sealer("da")))
            .unwrap();
        let read = j.read().unwrap();
        let e = &read.view.entries[&id];
        assert!(!e.no_replies);
        assert!(read.view.replies(e).is_empty());
        // A reply written after the lift, knowing it, shows.
        let a = ack(&id, "a2", "pb", ReplyKind::Heard, 11, None);
        j.update(|d| d.put_ack(&a, &crate::Keyring::for_tests("pb").sealer("db")))
            .unwrap();
        let read = j.read().unwrap();
        let e = &read.view.entries[&id];
        let shown: Vec<&str> = read.view.replies(e).acks.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(shown, ["a2"]);
    }
}
