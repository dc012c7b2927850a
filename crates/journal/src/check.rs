//! Checking one's own entries: what a person's devices say about the entries that claim
//! them as author, and what every reader shows because of it.
//!
//! The rules, for an entry claiming this person:
//! - **Current format** (an origin seal or field seals): the origin seal must verify (it
//!   covers author, device, creation time and `made`, the fields present at creation);
//!   every field in `made` must still be there; every value of every sealed field (each
//!   concurrent value, each tag added or removed) must verify under a key of the keyring;
//!   every status change in the person's name on it must verify. Otherwise *not yours*
//!   ([`Why::Altered`]; [`Why::RepliesReopened`] when what fails is the no-replies flag).
//! - **Versions** ([`Marks`]): this device remembers, per entry and field, the highest
//!   version of a verified seal it has seen (written by this device, or read). A field
//!   whose verified values are all older, or that is gone, was put back: *not yours*
//!   ([`Why::RolledBack`], [`Why::Undeleted`] for the tombstone, [`Why::RepliesReopened`]
//!   for the no-replies flag). An entry the marks know that is gone from the space (its
//!   key removed, or its author changed) is [`Judge::removed`].
//! - **First format** (`auth` = `v1:`…): a valid one is *authentic* until this person's
//!   devices began sealing (then a device seals it again in the current format, so one
//!   left over is *unsettled*); an invalid one is *not yours*.
//! - **No seal at all**: *written before authenticators* when a valid sealing marker of
//!   this person lists it, or when none exists and this device has never seen one; otherwise
//!   *not yours* ([`Why::Unsealed`]).
//! - A value verified only by a retired key makes the entry *unsettled*.
//!
//! A deletion is a sealed tombstone: an entry whose tombstone is not sealed by its author
//! (on the author's devices: does not verify) stays shown, as *not yours*.

use crate::history::Timing;
use crate::listening::Replies;
use crate::model::{Entry, Sealed};
use crate::record::{ORIGIN, origin_value, status_change_field, status_change_value};
use crate::schema::{DELETED, HELD, NO_REPLIES};
use crate::seal::{Authenticity, Keyring, Seal, Standing, Subject, Why};
use crate::view::View;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What this device remembers of its person's entries, per notebook (kept by duo-device in
/// an age-encrypted local file, never synced).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marks {
    /// This device has seen its person's devices begin sealing in this notebook.
    pub began: bool,
    /// Entry id → field → the highest version of a verified seal seen.
    pub seen: BTreeMap<String, Versions>,
}

impl Marks {
    /// Remember that this device sealed `field` of `entry` at `version`.
    pub fn note(&mut self, entry: &str, field: &str, version: u64) {
        self.seen.entry(entry.to_string()).or_default().note(field, version);
    }
}

/// The highest version seen of each field of one entry, by field name: a short sorted list
/// (a handful of fields per entry, and 100k entries' marks are read by every list), stored
/// as the map it stands for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Versions(Vec<(Box<str>, u64)>);

impl Versions {
    /// The highest version seen of `field`.
    pub fn get(&self, field: &str) -> Option<u64> {
        self.0
            .binary_search_by(|(f, _)| (**f).cmp(field))
            .ok()
            .map(|i| self.0[i].1)
    }

    /// Remember `version` of `field` (the higher version wins).
    pub fn note(&mut self, field: &str, version: u64) {
        match self.0.binary_search_by(|(f, _)| (**f).cmp(field)) {
            Ok(i) => self.0[i].1 = self.0[i].1.max(version),
            Err(i) => self.0.insert(i, (field.into(), version)),
        }
    }

    /// Every field and its version, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.0.iter().map(|(f, v)| (&**f, *v))
    }
}

impl Serialize for Versions {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Versions {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Versions;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of field names to versions")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Versions, A::Error> {
                let mut v = Versions(Vec::with_capacity(map.size_hint().unwrap_or(0).min(64)));
                while let Some((field, version)) = map.next_entry::<std::borrow::Cow<'de, str>, u64>()? {
                    v.note(&field, version);
                }
                Ok(v)
            }
        }
        d.deserialize_map(Visit)
    }
}

/// An entry as readers show it, with what this device says about it (`None`: another
/// person's, which cannot be checked by design).
#[derive(Clone, Copy, Debug)]
pub struct Shown<'v> {
    pub entry: &'v Entry,
    pub check: Option<Authenticity>,
}

/// Checks a person's own entries with their keyring and this device's marks.
#[derive(Clone, Copy, Debug)]
pub struct Judge<'a> {
    keyring: &'a Keyring,
    marks: &'a Marks,
}

/// How one sealed field checks out.
struct FieldCheck {
    /// Every value is covered by a seal.
    all_sealed: bool,
    /// The highest version of a seal that covers a value.
    version: Option<u64>,
    /// Some value is covered only by a retired key.
    retired: bool,
}

impl<'a> Judge<'a> {
    pub fn new(keyring: &'a Keyring, marks: &'a Marks) -> Judge<'a> {
        Judge { keyring, marks }
    }

    /// The person whose entries this judge checks.
    pub fn person(&self) -> &str {
        self.keyring.person()
    }

    /// [`Keyring::verify`], with what the history says of a seal made with a retired key
    /// ([`crate::history::History::timing_of`]): made before the rotation that retired the
    /// key, it counts as it did then; made after it (knowing of it), it counts for nothing;
    /// made concurrently, it stays retired (unconfirmed until its writer seals it again).
    fn verify(&self, view: &View, subject: &Subject<'_>, value: &[u8], seal: &str) -> Option<(Seal, Standing)> {
        let (parsed, standing) = self.keyring.verify(subject, value, seal)?;
        if standing == Standing::Retired {
            match view.records.timing_of(seal) {
                Some(Timing::Before) => return Some((parsed, Standing::Current)),
                Some(Timing::After) => return None,
                _ => {}
            }
        }
        Some((parsed, standing))
    }

    /// Does any seal of `e` come after the rotation that retired its key?
    fn sealed_late(&self, view: &View, e: &Entry) -> bool {
        let timings = e
            .seals
            .origin
            .iter()
            .chain(e.seals.fields.values().flat_map(|f| f.seals.iter()));
        timings
            .into_iter()
            .any(|s| view.records.timing_of(s) == Some(Timing::After))
    }

    fn field(&self, view: &View, e: &Entry, name: &str, f: &Sealed) -> FieldCheck {
        let subject = Subject {
            scope: &e.id,
            author: &e.author,
            field: name,
        };
        let values = e.sealed_values(name);
        let mut out = FieldCheck {
            all_sealed: !values.is_empty(),
            version: None,
            retired: false,
        };
        for v in values {
            let best = f
                .seals
                .iter()
                .filter_map(|s| self.verify(view, &subject, v.as_bytes(), s))
                .max_by_key(|(s, st)| (s.version, *st == Standing::Current));
            match best {
                Some((seal, standing)) => {
                    out.version = out.version.max(Some(seal.version));
                    out.retired |= standing == Standing::Retired;
                }
                None => out.all_sealed = false,
            }
        }
        out
    }

    /// Valid sealing markers of this person in `view`.
    fn markers<'v>(&self, view: &'v View) -> impl Iterator<Item = &'v crate::record::Marker> + use<'v, 'a> {
        let ring = self.keyring;
        view.markers.values().filter(move |m| m.verifies(ring))
    }

    /// Have this person's devices begun sealing (as far as this device knows)?
    pub fn began(&self, view: &View) -> bool {
        self.marks.began || self.markers(view).next().is_some()
    }

    /// What this device says about `e`: `None` unless it claims this person as author.
    pub fn check(&self, view: &View, e: &Entry) -> Option<Authenticity> {
        (e.author == self.person()).then(|| self.check_mine(view, e))
    }

    fn check_mine(&self, view: &View, e: &Entry) -> Authenticity {
        if !e.seals.is_current_format() {
            if !e.auth.is_empty() {
                return if !e
                    .auth
                    .iter()
                    .any(|a| crate::seal::legacy_v1_verifies(self.keyring, e, a).is_some())
                {
                    Authenticity::NotYours(Why::Altered)
                } else if self.began(view) {
                    Authenticity::Unsettled
                } else {
                    Authenticity::Authentic
                };
            }
            let listed = self.markers(view).any(|m| m.legacy.binary_search(&e.id).is_ok());
            return if listed || !self.began(view) {
                Authenticity::Unsealed
            } else {
                Authenticity::NotYours(Why::Unsealed)
            };
        }
        let mut why: Option<Why> = None;
        let mut note = |w: Why| {
            let rank = |w: Why| match w {
                Why::RetiredKey => 5,
                Why::Undeleted => 4,
                Why::RepliesReopened => 3,
                Why::RolledBack => 2,
                Why::Altered => 1,
                Why::Unsealed => 0,
            };
            if why.is_none_or(|old| rank(w) > rank(old)) {
                why = Some(w);
            }
        };
        let mut retired = false;
        // The origin: author, device, creation time, and the fields present at creation.
        let origin_subject = Subject {
            scope: &e.id,
            author: &e.author,
            field: ORIGIN,
        };
        let made = e.seals.made.iter().find(|m| {
            let value = origin_value(&e.device, e.created_at, m);
            e.seals
                .origin
                .iter()
                .any(|s| match self.verify(view, &origin_subject, &value, s) {
                    Some((_, st)) => {
                        retired |= st == Standing::Retired;
                        true
                    }
                    None => false,
                })
        });
        let problem = |name: &str, rolled_back: bool| match name {
            DELETED if rolled_back => Why::Undeleted,
            NO_REPLIES if rolled_back || !e.no_replies => Why::RepliesReopened,
            _ if name.starts_with(HELD) => Why::RepliesReopened,
            _ if rolled_back => Why::RolledBack,
            _ => Why::Altered,
        };
        match made {
            None => note(Why::Altered),
            Some(made) => {
                for f in made.split('\n').filter(|f| !f.is_empty()) {
                    if e.sealed_values(f).is_empty() {
                        note(problem(f, false));
                    }
                }
            }
        }
        let lifts = self.verified_holds(view, e);
        let mut versions = BTreeMap::new();
        for lift in &lifts {
            versions.insert(lift.as_str(), 1);
        }
        for (name, f) in &e.seals.fields {
            let c = self.field(view, e, name, f);
            retired |= c.retired;
            if !c.all_sealed {
                note(problem(name, false));
            }
            if let Some(v) = c.version {
                versions.insert(name.as_str(), v);
            }
        }
        if let Some(seen) = self.marks.seen.get(&e.id) {
            for (name, highest) in seen.iter() {
                if versions.get(name).is_none_or(|v| *v < highest) {
                    note(problem(name, true));
                }
            }
        }
        for c in crate::boundaries::changes_of(&view.status_changes, &e.id).filter(|c| c.by == e.author) {
            let field = status_change_field(c);
            let subject = Subject {
                scope: &e.id,
                author: &e.author,
                field: &field,
            };
            let value = status_change_value(c);
            if !c.seals.iter().any(|s| self.verify(view, &subject, &value, s).is_some()) {
                note(Why::Altered);
            }
        }
        if why.is_some() && self.sealed_late(view, e) {
            why = Some(Why::RetiredKey);
        }
        match why {
            Some(w) => Authenticity::NotYours(w),
            None if retired => Authenticity::Unsettled,
            None => Authenticity::Authentic,
        }
    }

    /// Is `e` (in the deleted entries) deleted by its author, as far as this device can
    /// tell? Another person's tombstones cannot be checked and are taken as they are; this
    /// person's must verify.
    fn deleted_by_author(&self, view: &View, e: &Entry) -> bool {
        if e.author != self.person() {
            return true;
        }
        e.seals.fields.get(DELETED).is_some_and(|f| {
            let subject = Subject {
                scope: &e.id,
                author: &e.author,
                field: DELETED,
            };
            f.seals
                .iter()
                .any(|s| self.verify(view, &subject, b"true", s).is_some())
        })
    }

    /// Every entry a reader shows: the entries of the view, and this person's entries whose
    /// deletion is not theirs. Each with what this device says about it.
    pub fn shown<'v>(&self, view: &'v View) -> Vec<Shown<'v>> {
        self.shown_of(view, &|_| true)
    }

    /// [`Judge::shown`] of the entries `wanted` keeps (a reader's filter, applied before
    /// anything is checked: what is not shown is not checked).
    pub fn shown_of<'v>(&self, view: &'v View, wanted: &(dyn Fn(&Entry) -> bool + Sync)) -> Vec<Shown<'v>> {
        let all: Vec<&'v Entry> = (view.entries.values().filter(|e| wanted(e)))
            .chain(
                (view.deleted.values())
                    .filter(|e| wanted(e))
                    .filter(|e| !self.deleted_by_author(view, e)),
            )
            .collect();
        let shown = |entry: &&'v Entry| Shown {
            entry,
            check: self.check(view, entry),
        };
        // Checking is a few HMACs per entry of this person's: a large notebook is checked
        // on several threads ([`crate::worker_threads`]), in order.
        const EACH: usize = 4096;
        let threads = crate::worker_threads().min(all.len() / EACH).max(1);
        if threads == 1 {
            return all.iter().map(shown).collect();
        }
        std::thread::scope(|s| {
            let shown = &shown;
            let parts: Vec<_> = (all.chunks(all.len().div_ceil(threads)))
                .map(|chunk| s.spawn(move || chunk.iter().map(shown).collect::<Vec<_>>()))
                .collect();
            parts
                .into_iter()
                .flat_map(|p| p.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    }

    /// The shown entries whose id starts with `prefix`.
    pub fn matching<'v>(&self, view: &'v View, prefix: &str) -> Vec<Shown<'v>> {
        let mut out: Vec<Shown<'v>> = view
            .matching(prefix)
            .map(|entry| Shown {
                entry,
                check: self.check(view, entry),
            })
            .collect();
        out.extend(
            view.deleted
                .range(prefix.to_string()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(_, e)| e)
                .filter(|e| !self.deleted_by_author(view, e))
                .map(|entry| Shown {
                    entry,
                    check: self.check(view, entry),
                }),
        );
        out
    }

    /// What may be shown under a shown entry: [`crate::replies`], except that nothing is
    /// shown under an entry of this person's that is not theirs (its flags cannot be
    /// trusted: a lifted "no replies" must not let replies through), and replies in this
    /// person's name that their keys do not cover are left out.
    pub fn replies<'v>(&self, view: &'v View, shown: &Shown<'_>) -> Replies<'v> {
        if shown.check.is_some_and(Authenticity::is_not_yours) {
            return Replies::default();
        }
        let me = self.person();
        let author = &shown.entry.author;
        // A lift counts when its entry's author wrote it; on the author's devices, only when
        // their keys cover it (a forged one is ignored).
        let counts = |h: &crate::listening::Hold| &h.by == author && (h.by != me || self.hold_verifies(view, h));
        let mut r = crate::listening::replies_except(&view.acks, shown.entry, |a| view.is_held(a, counts));
        let genuine = |a: &crate::listening::Ack| a.by != me || self.ack_verifies(view, a);
        r.acks.retain(|a| genuine(a));
        r.reflections.retain(|x| genuine(x.reflection));
        for x in &mut r.reflections {
            x.answers.retain(|a| genuine(a));
        }
        r
    }

    fn hold_verifies(&self, view: &View, h: &crate::listening::Hold) -> bool {
        let value = crate::record::hold_value(h);
        self.record_verifies(view, (&h.entry, &h.by), &crate::record::hold_field(h), &value, &h.seals)
    }

    /// Does one of `seals` cover a record of `(entry, author)` sealed under `field`?
    fn record_verifies(
        &self,
        view: &View,
        (entry, by): (&str, &str),
        field: &str,
        value: &[u8],
        seals: &[String],
    ) -> bool {
        let subject = Subject {
            scope: entry,
            author: by,
            field,
        };
        seals.iter().any(|s| self.verify(view, &subject, value, s).is_some())
    }

    /// This person's verified lifts of "no replies" on `e`, by the name their marks use
    /// (`held/<lift id>`): a lift once seen that is gone was removed (replies reopened).
    fn verified_holds(&self, view: &View, e: &Entry) -> Vec<String> {
        let prefix = format!("{}/", e.id);
        view.holds
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(_, h)| h)
            .filter(|h| h.by == e.author && self.hold_verifies(view, h))
            .map(crate::record::hold_field)
            .collect()
    }

    fn ack_verifies(&self, view: &View, a: &crate::listening::Ack) -> bool {
        let value = crate::record::ack_value(a);
        self.record_verifies(view, (&a.entry, &a.by), &crate::record::ack_field(a), &value, &a.seals)
    }

    /// The marks after reading `view`: every verified version of this person's fields
    /// that is higher than what was remembered, and whether their devices began sealing.
    pub fn observe(&self, view: &View) -> Marks {
        let mut m = self.marks.clone();
        if self.markers(view).next().is_some() {
            m.began = true;
        }
        for e in view.entries.values().chain(view.deleted.values()) {
            if e.author != self.person() || !e.seals.is_current_format() {
                continue;
            }
            // What the seals claim bounds what they can verify: a field whose highest
            // claimed version is already remembered teaches nothing, and is not checked
            // again (so a read costs in proportion to what changed since the last one).
            let remembered = m.seen.get(&e.id);
            let fresh: Vec<(&String, &Sealed)> = e
                .seals
                .fields
                .iter()
                .filter(|(name, f)| {
                    let claimed = f.seals.iter().filter_map(|s| Seal::parse(s)).map(|s| s.version).max();
                    let known = remembered.and_then(|r| r.get(name));
                    matches!((claimed, known), (Some(c), k) if k.is_none_or(|k| c > k))
                })
                .collect();
            for (name, f) in fresh {
                if let Some(v) = self.field(view, e, name, f).version {
                    m.note(&e.id, name, v);
                }
            }
            for lift in self.verified_holds(view, e) {
                m.note(&e.id, &lift, 1);
            }
        }
        m
    }

    /// Entries this device knows as this person's that are gone from `view` without a
    /// sealed deletion: their key was removed, or they claim another author now.
    pub fn removed(&self, view: &View) -> Vec<String> {
        let me = self.person();
        self.removed_from(|id| {
            let e = view.entries.get(id).or_else(|| view.deleted.get(id));
            e.is_some_and(|e| e.author == me)
        })
    }

    /// [`Judge::removed`] of a view read in parts: `holds(id)` says whether some part
    /// holds entry `id` as this person's ([`Judge::held_as_mine`] of each part).
    pub fn removed_from(&self, holds: impl Fn(&str) -> bool) -> Vec<String> {
        self.marks.seen.keys().filter(|id| !holds(id)).cloned().collect()
    }

    /// The ids of the entries of `view` (deleted ones too) that this device remembers as
    /// this person's and that are still theirs: what [`Judge::removed_from`] asks about.
    pub fn held_as_mine<'v>(&self, view: &'v View) -> Vec<&'v String> {
        let me = self.person();
        (view.entries.iter().chain(view.deleted.iter()))
            .filter(|(id, e)| e.author == me && self.marks.seen.contains_key(*id))
            .map(|(id, _)| id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The marks file is written by older duos too: an entry's versions are stored exactly
    /// as the map they stand for, and read back from one.
    #[test]
    fn versions_are_stored_as_the_map_of_fields_to_versions() {
        let map: BTreeMap<String, u64> = [("body".into(), 3), ("kind".into(), 1), ("tag:us".into(), 2)].into();
        let mut v = Versions::default();
        for (f, n) in [("tag:us", 2), ("body", 1), ("kind", 1), ("body", 3), ("body", 2)] {
            v.note(f, n);
        }
        assert_eq!(v.get("body"), Some(3), "the highest version wins");
        assert_eq!(v.get("status"), None);
        assert_eq!(
            v.iter().collect::<Vec<_>>(),
            vec![("body", 3), ("kind", 1), ("tag:us", 2)]
        );
        let bytes = postcard::to_allocvec(&v).unwrap();
        assert_eq!(bytes, postcard::to_allocvec(&map).unwrap());
        assert_eq!(postcard::from_bytes::<Versions>(&bytes).unwrap(), v);
        assert_eq!(serde_json::to_value(&v).unwrap(), serde_json::to_value(&map).unwrap());
    }
}
