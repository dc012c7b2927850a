//! The materialised view: the document's contents read out once and kept (encrypted, like
//! everything else) beside the chunks, so that listing 100k entries does not mean loading
//! 100k entries' automerge history. It records which chunk files it reflects; any other
//! chunk is either merged on top (an append-only `adds/` chunk) or triggers a rebuild.
//!
//! It is stored in parts, so that a change costs in proportion to what changed: a head
//! (`view`: which files it reflects, the membership part, the restorable entries and the
//! names of the parts) and up to 256 parts (`view-parts/<sha256>`), each holding the
//! entries, replies, status changes and lifts whose entry id starts with the same two hex
//! digits ([`bucket`]). A part is named by the SHA-256 of its bytes: one that did not
//! change keeps its name and is not written again, and a read checks each part against
//! its name.

use crate::JournalError;
use crate::boundaries::StatusChange;
use crate::doc::Contents;
use crate::listening::{Ack, Hold, Replies};
use crate::model::Entry;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Bump when the view's layout changes; an older or newer view is rebuilt, not trusted.
pub const VIEW_FORMAT: u32 = 10;

/// What every stored view starts with.
const MAGIC: &[u8] = b"duo-view\n";

/// What every part of a stored view starts with.
const PART_MAGIC: &[u8] = b"duo-view-part\n";

/// The directory of the view's parts (a [`crate::Storage`] name is `view-parts/<sha256>`).
pub const PARTS_DIR: &str = "view-parts";

/// Whether `name` is a part's name: `view-parts/` and 64 lowercase hex digits.
pub fn is_part_name(name: &str) -> bool {
    name.strip_prefix(PARTS_DIR)
        .and_then(|n| n.strip_prefix('/'))
        .is_some_and(|h| h.len() == 64 && crate::is_lower_hex(h))
}

/// Which part an item keyed by an entry id (`<entry id>` or `<entry id>/<id>`) is kept in:
/// the key's first two characters read as a hex byte, or 0 when they are not two lowercase
/// hex digits. An id prefix of two or more hex digits names its part.
pub fn bucket(key: &str) -> u8 {
    use crate::lower_hex_digit as digit;
    match key.as_bytes() {
        [a, b, ..] => match (digit(*a), digit(*b)) {
            (Some(a), Some(b)) => a << 4 | b,
            _ => 0,
        },
        _ => 0,
    }
}

impl Contents {
    /// What of these contents belongs in the part of `bucket` (entries, deleted entries,
    /// replies, status changes, lifts and what they hold), and nothing else.
    fn of_bucket(&self, b: u8) -> Contents {
        fn of<V: Clone>(map: &BTreeMap<String, V>, b: u8) -> BTreeMap<String, V> {
            (map.iter().filter(|(k, _)| bucket(k) == b))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }
        Contents {
            entries: of(&self.entries, b),
            deleted: of(&self.deleted, b),
            acks: of(&self.acks, b),
            status_changes: of(&self.status_changes, b),
            holds: of(&self.holds, b),
            held: of(&self.held, b),
            ..Contents::default()
        }
    }

    /// The buckets these contents put something in.
    fn buckets(&self) -> BTreeSet<u8> {
        (self.entries.keys().chain(self.deleted.keys()))
            .chain(self.acks.keys())
            .chain(self.status_changes.keys())
            .chain(self.holds.keys())
            .chain(self.held.keys())
            .map(|k| bucket(k))
            .collect()
    }
}

/// Everything a read command needs, without automerge: a document's [`Contents`] as they
/// were read out, and which chunk files they reflect. A view derefs to its contents
/// (`view.entries` is `view.contents.entries`).
#[derive(Clone, Debug, Default)]
pub struct View {
    pub format: u32,
    /// The chunk files this view reflects.
    pub covers: BTreeSet<String>,
    /// Their fingerprints when the view was written ([`crate::Listing::stamps`]): a
    /// covered file whose fingerprint changed is read again, so damage is noticed.
    pub stamps: BTreeMap<String, String>,
    /// What the document holds.
    pub contents: Contents,
    /// Marks for what is shown (never stored): `person/<id>` or `device/<id>` → why the
    /// name or record shown is not what the document holds now (duo-device's membership
    /// rules fill it in; [`View::person_name`] shows it).
    pub notes: BTreeMap<String, String>,
    /// Which stored parts hold these contents, and which of them no longer do (never
    /// compared: two views with the same contents are equal wherever they are stored).
    pub(crate) parts: Parts,
}

impl PartialEq for View {
    fn eq(&self, other: &Self) -> bool {
        self.format == other.format
            && self.covers == other.covers
            && self.stamps == other.stamps
            && self.contents == other.contents
            && self.notes == other.notes
    }
}

impl Eq for View {}

/// The stored parts a view was read from or written to, by bucket, and the buckets whose
/// contents changed since (`None`: unknown, every part is written again).
#[derive(Clone, Debug, Default)]
pub(crate) struct Parts {
    pub(crate) names: BTreeMap<u8, String>,
    pub(crate) changed: Option<BTreeSet<u8>>,
    /// Only some parts were read ([`crate::Journal::read_part_of`]): never stored.
    pub(crate) partial: bool,
    /// A head read on its own ([`crate::Journal::current_head`]) with `adds/` files on top:
    /// what they add to the parts (entries, deleted entries, replies), put into each part
    /// as it is read ([`View::with_part`]).
    pub(crate) pending: Option<Box<Contents>>,
    /// The `adds/` files whose contents are pending.
    pub(crate) pending_files: BTreeSet<String>,
}

impl Parts {
    /// The parts of a view whose contents then changed in `touched` buckets (`None`: anywhere).
    pub(crate) fn after(self, touched: Option<BTreeSet<u8>>) -> Parts {
        let changed = match (self.changed, touched) {
            (Some(mut c), Some(t)) => {
                c.extend(t);
                Some(c)
            }
            _ => None,
        };
        Parts {
            names: self.names,
            changed,
            partial: self.partial,
            pending: self.pending,
            pending_files: self.pending_files,
        }
    }

    /// Whether the stored part of `bucket` still holds what the view holds.
    pub(crate) fn unchanged(&self, bucket: u8) -> Option<&String> {
        let c = self.changed.as_ref()?;
        (!c.contains(&bucket)).then(|| self.names.get(&bucket)).flatten()
    }
}

/// A view as [`View::encode_split`] encodes it.
pub(crate) struct Encoded {
    /// The head's bytes.
    pub(crate) head: Vec<u8>,
    /// The names of all its parts, by bucket.
    pub(crate) names: BTreeMap<u8, String>,
    /// The parts to write: `(name, bytes)`.
    pub(crate) parts: Vec<(String, Vec<u8>)>,
}

/// The head of a stored view, as written: the header, the membership part (first, in the
/// order of [`Contents`]: [`View::decode_members`] reads only it), then the restorable
/// entries and the names of the parts.
#[derive(Serialize)]
struct HeadOut<'a> {
    format: u32,
    covers: &'a BTreeSet<String>,
    stamps: &'a BTreeMap<String, String>,
    schema: u64,
    space_id: &'a Option<String>,
    space_ids: &'a Vec<String>,
    persons: &'a BTreeMap<String, crate::Person>,
    devices: &'a BTreeMap<String, crate::Device>,
    markers: &'a BTreeMap<String, crate::Marker>,
    signatures: &'a crate::Signatures,
    records: &'a crate::History,
    restorable: &'a BTreeSet<String>,
    parts: &'a BTreeMap<u8, String>,
}

/// [`HeadOut`] as read (postcard writes a nested struct's fields in place, so `front` is
/// the head's first fields).
#[derive(Deserialize)]
struct Head {
    front: Front,
    restorable: BTreeSet<String>,
    parts: BTreeMap<u8, String>,
}

/// The front of a head: the header and the membership part.
#[derive(Deserialize)]
struct Front {
    format: u32,
    covers: BTreeSet<String>,
    stamps: BTreeMap<String, String>,
    schema: u64,
    space_id: Option<String>,
    space_ids: Vec<String>,
    persons: BTreeMap<String, crate::Person>,
    devices: BTreeMap<String, crate::Device>,
    markers: BTreeMap<String, crate::Marker>,
    signatures: crate::Signatures,
    records: crate::History,
}

impl Front {
    /// A view of the front alone: no entries, replies or boundaries' changes.
    fn into_view(self) -> View {
        View {
            format: self.format,
            covers: self.covers,
            stamps: self.stamps,
            contents: Contents {
                schema: self.schema,
                space_id: self.space_id,
                space_ids: self.space_ids,
                persons: self.persons,
                devices: self.devices,
                markers: self.markers,
                signatures: self.signatures,
                records: self.records,
                ..Default::default()
            },
            notes: BTreeMap::new(),
            parts: Parts::default(),
        }
    }
}

/// Items of one bucket of a map, written as a map.
struct Items<'a, V>(Vec<(&'a String, &'a V)>);

impl<V> Default for Items<'_, V> {
    fn default() -> Self {
        Items(Vec::new())
    }
}

impl<V: Serialize> Serialize for Items<'_, V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().copied())
    }
}

/// One part of a view, as written: what is keyed by the entry ids of one bucket.
#[derive(Serialize, Default)]
struct PartOut<'a> {
    entries: Items<'a, Entry>,
    deleted: Items<'a, Entry>,
    acks: Items<'a, Ack>,
    status_changes: Items<'a, StatusChange>,
    holds: Items<'a, Hold>,
    held: Items<'a, BTreeSet<String>>,
}

impl PartOut<'_> {
    fn is_empty(&self) -> bool {
        self.entries.0.is_empty()
            && self.deleted.0.is_empty()
            && self.acks.0.is_empty()
            && self.status_changes.0.is_empty()
            && self.holds.0.is_empty()
            && self.held.0.is_empty()
    }
}

/// [`PartOut`] as read.
#[derive(Deserialize, Default)]
pub(crate) struct Part {
    entries: BTreeMap<String, Entry>,
    deleted: BTreeMap<String, Entry>,
    acks: BTreeMap<String, Ack>,
    status_changes: BTreeMap<String, StatusChange>,
    holds: BTreeMap<String, Hold>,
    held: BTreeMap<String, BTreeSet<String>>,
}

impl Part {
    /// Decode a stored part of bucket `bucket`: every key must belong to it.
    pub(crate) fn decode(bytes: &[u8], bucket: u8) -> Result<Part, String> {
        let body = bytes.strip_prefix(PART_MAGIC).ok_or("not a part of a duo view")?;
        let part: Part = postcard::from_bytes(body).map_err(|e| format!("not a part of a duo view: {e}"))?;
        let keys = (part.entries.keys().chain(part.deleted.keys()))
            .chain(part.acks.keys())
            .chain(part.status_changes.keys())
            .chain(part.holds.keys())
            .chain(part.held.keys());
        for k in keys {
            if self::bucket(k) != bucket {
                return Err(format!("a part of the view holds {k}, which belongs in another part"));
            }
        }
        Ok(part)
    }
}

impl std::ops::Deref for View {
    type Target = Contents;
    fn deref(&self) -> &Contents {
        &self.contents
    }
}

impl std::ops::DerefMut for View {
    fn deref_mut(&mut self) -> &mut Contents {
        &mut self.contents
    }
}

impl View {
    /// A view of `contents`, reflecting the chunk files `covers`.
    pub fn new(contents: Contents, covers: BTreeSet<String>) -> Self {
        View {
            format: VIEW_FORMAT,
            covers,
            stamps: BTreeMap::new(),
            contents,
            notes: BTreeMap::new(),
            parts: Parts::default(),
        }
    }

    /// The view as stored: the head's bytes (a magic string, then the head in postcard,
    /// compact binary serde, whose first field is the format number), the names of all its
    /// parts by bucket, and the parts to write, `(name, bytes)`. A bucket for which `keep`
    /// gives a name is stored there already and is not encoded again.
    pub(crate) fn encode_split(&self, keep: impl Fn(u8) -> Option<String>) -> Encoded {
        use sha2::Digest;
        let mut buckets: Vec<PartOut<'_>> = (0..=255).map(|_| PartOut::default()).collect();
        fn route<'a, V>(
            map: &'a BTreeMap<String, V>,
            buckets: &mut [PartOut<'a>],
            f: for<'b> fn(&'b mut PartOut<'a>) -> &'b mut Items<'a, V>,
        ) {
            for (k, v) in map {
                f(&mut buckets[usize::from(bucket(k))]).0.push((k, v));
            }
        }
        let c = &self.contents;
        route(&c.entries, &mut buckets, |p| &mut p.entries);
        route(&c.deleted, &mut buckets, |p| &mut p.deleted);
        route(&c.acks, &mut buckets, |p| &mut p.acks);
        route(&c.status_changes, &mut buckets, |p| &mut p.status_changes);
        route(&c.holds, &mut buckets, |p| &mut p.holds);
        route(&c.held, &mut buckets, |p| &mut p.held);
        let (mut names, mut written) = (BTreeMap::new(), Vec::new());
        for (b, part) in (0..=255u8).zip(&buckets) {
            if part.is_empty() {
                continue;
            }
            if let Some(name) = keep(b) {
                names.insert(b, name);
                continue;
            }
            let bytes = postcard::to_extend(part, PART_MAGIC.to_vec()).expect("a part always serializes");
            let name = format!("{PARTS_DIR}/{}", crate::hex(&sha2::Sha256::digest(&bytes)));
            names.insert(b, name.clone());
            written.push((name, bytes));
        }
        let head = HeadOut {
            format: self.format,
            covers: &self.covers,
            stamps: &self.stamps,
            schema: c.schema,
            space_id: &c.space_id,
            space_ids: &c.space_ids,
            persons: &c.persons,
            devices: &c.devices,
            markers: &c.markers,
            signatures: &c.signatures,
            records: &c.records,
            restorable: &c.restorable,
            parts: &names,
        };
        let head = postcard::to_extend(&head, MAGIC.to_vec()).expect("a view always serializes");
        Encoded {
            head,
            names,
            parts: written,
        }
    }

    /// Decode a stored view's head: the view without what its parts hold, and the names of
    /// its parts by bucket. `Err(None)` for a view of another format (written by an older
    /// or newer duo: stale, not damaged); `Err(Some(reason))` for bytes that are not a view.
    pub(crate) fn decode_head(bytes: &[u8]) -> Result<View, Option<String>> {
        let body = bytes
            .strip_prefix(MAGIC)
            .ok_or_else(|| Some("not a duo view".to_string()))?;
        // The format comes first, so another layout is recognised before decoding.
        let (format, _) = postcard::take_from_bytes::<u32>(body).map_err(|e| Some(format!("not a duo view: {e}")))?;
        if format != VIEW_FORMAT {
            return Err(None);
        }
        let h: Head = postcard::from_bytes(body).map_err(|e| Some(format!("not a duo view: {e}")))?;
        if let Some(bad) = h.parts.values().find(|n| !is_part_name(n)) {
            return Err(Some(format!("not a duo view: it names a part {bad:?}")));
        }
        let mut view = h.front.into_view();
        view.contents.restorable = h.restorable;
        view.parts = Parts {
            names: h.parts,
            changed: Some(BTreeSet::new()),
            ..Parts::default()
        };
        Ok(view)
    }

    /// A copy of this head to put parts' contents in: partial (never stored), without the
    /// names of the parts or what is pending.
    fn head_copy(&self) -> View {
        View {
            format: self.format,
            covers: self.covers.clone(),
            stamps: self.stamps.clone(),
            contents: self.contents.clone(),
            notes: self.notes.clone(),
            parts: Parts {
                partial: true,
                ..Parts::default()
            },
        }
    }

    /// This head with the contents of its part of `bucket` in (`part`; `None` for a bucket
    /// it has no part of yet), and what its pending `adds/` put there: a partial view,
    /// never stored, with the head's membership part, `restorable` and what it covers.
    /// `None` when the pending additions touch what the part holds (only a rebuild is
    /// right then).
    pub(crate) fn with_part(&self, bucket: u8, part: Option<Part>) -> Option<View> {
        let mut view = self.head_copy();
        view.join(part.into_iter().collect());
        match &self.parts.pending {
            Some(pending) => view.merge_additions(pending.of_bucket(bucket), []).then_some(view),
            None => Some(view),
        }
    }

    /// The buckets the pending `adds/` of a head put something in ([`View::with_part`]).
    pub(crate) fn pending_buckets(&self) -> BTreeSet<u8> {
        self.parts.pending.as_deref().map(Contents::buckets).unwrap_or_default()
    }

    /// [`View::merge_additions`] into a head read on its own: what the additions change in
    /// the head (its membership part, what it covers) now, and what belongs in parts kept
    /// until each part is read ([`View::with_part`]). False (and nothing changed) when
    /// only a rebuild is right.
    pub(crate) fn merge_pending(&mut self, mut extra: Contents, names: impl IntoIterator<Item = String>) -> bool {
        use std::mem::take;
        let of_parts = Contents {
            entries: take(&mut extra.entries),
            deleted: take(&mut extra.deleted),
            acks: take(&mut extra.acks),
            status_changes: take(&mut extra.status_changes),
            holds: take(&mut extra.holds),
            held: take(&mut extra.held),
            ..Contents::default()
        };
        // What merge_additions refuses whatever the part holds.
        if !of_parts.status_changes.is_empty() || !of_parts.holds.is_empty() || self.parts.pending.is_some() {
            return false;
        }
        let names: BTreeSet<String> = names.into_iter().collect();
        if !self.merge_additions(extra, names.iter().cloned()) {
            return false;
        }
        self.parts.pending = Some(Box::new(of_parts));
        self.parts.pending_files = names;
        true
    }

    /// A head read with `adds/` on top ([`crate::Journal::current_head`]): those `adds/`
    /// files, and a view of what they add (the head with their entries, replies and lifts,
    /// partial): what a reader that observed the view without some of them needs to
    /// observe them alone. `None` when nothing is pending.
    pub fn pending(&self) -> Option<(&BTreeSet<String>, View)> {
        let pending = self.parts.pending.as_deref()?;
        let files = &self.parts.pending_files;
        let mut view = self.head_copy();
        // A head holds no entries: what is pending goes in as it goes into a part.
        view.merge_additions(pending.clone(), []).then_some((files, view))
    }

    /// Put the parts read for this head's buckets (in the order of [`View::part_names`]) in.
    pub(crate) fn join(&mut self, parts: Vec<Part>) {
        fn all<V>(parts: &mut [Part], f: fn(&mut Part) -> &mut BTreeMap<String, V>) -> BTreeMap<String, V> {
            parts.iter_mut().flat_map(|p| std::mem::take(f(p))).collect()
        }
        let mut parts = parts;
        let c = &mut self.contents;
        c.entries = all(&mut parts, |p| &mut p.entries);
        c.deleted = all(&mut parts, |p| &mut p.deleted);
        c.acks = all(&mut parts, |p| &mut p.acks);
        c.status_changes = all(&mut parts, |p| &mut p.status_changes);
        c.holds = all(&mut parts, |p| &mut p.holds);
        c.held = all(&mut parts, |p| &mut p.held);
    }

    /// The stored parts this view was read from or written to, by bucket.
    pub(crate) fn part_names(&self) -> &BTreeMap<u8, String> {
        &self.parts.names
    }

    /// Decode only the front of a stored view: its header and the membership part of its
    /// contents (people, devices, sealing markers, signatures, records), which come before
    /// what people wrote; entries, replies and boundaries' changes are left empty. `bytes`
    /// may stop anywhere after that part. `None` when they do not hold it (too short, another
    /// format, not a view).
    pub fn decode_members(bytes: &[u8]) -> Option<View> {
        let body = bytes.strip_prefix(MAGIC)?;
        let (format, _) = postcard::take_from_bytes::<u32>(body).ok()?;
        if format != VIEW_FORMAT {
            return None;
        }
        let (f, _) = postcard::take_from_bytes::<Front>(body).ok()?;
        Some(f.into_view())
    }

    /// The membership part of the view (people, devices, signatures) as [`Contents`]
    /// without entries: what duo-device's membership rules read.
    pub fn members(&self) -> Contents {
        Contents {
            schema: self.schema,
            space_id: self.space_id.clone(),
            space_ids: self.space_ids.clone(),
            persons: self.persons.clone(),
            devices: self.devices.clone(),
            entries: BTreeMap::new(),
            deleted: BTreeMap::new(),
            markers: BTreeMap::new(),
            acks: BTreeMap::new(),
            status_changes: BTreeMap::new(),
            signatures: self.signatures.clone(),
            records: self.records.clone(),
            restorable: BTreeSet::new(),
            holds: BTreeMap::new(),
            held: BTreeMap::new(),
        }
    }

    /// Add the contents of append-only chunks. Returns false (and changes nothing) when
    /// they touch anything the view already has: then only a rebuild is right.
    pub fn merge_additions(&mut self, extra: Contents, names: impl IntoIterator<Item = String>) -> bool {
        let known = |k: &String| self.entries.contains_key(k) || self.deleted.contains_key(k);
        let clash = extra.entries.keys().chain(extra.deleted.keys()).any(known)
            || extra.markers.keys().any(|k| self.markers.contains_key(k))
            || extra.persons.keys().any(|k| self.persons.contains_key(k))
            || extra.devices.keys().any(|k| self.devices.contains_key(k))
            || extra.acks.keys().any(|k| self.acks.contains_key(k))
            || (extra.space_id.is_some() && self.space_id.is_some())
            || (extra.signatures.endorsements.keys()).any(|k| self.signatures.endorsements.contains_key(k))
            || (extra.signatures.revocations.keys()).any(|k| self.signatures.revocations.contains_key(k))
            // A status change decides how an entry is shown, and a membership record's
            // order is the whole history's: only a rebuild gets those right.
            || !extra.status_changes.is_empty()
            || !extra.records.records.is_empty()
            // Whether a reply is held is the change graph's answer: a lift, or a reply to
            // an entry that was lifted, needs a rebuild.
            || !extra.holds.is_empty()
            || extra.acks.values().any(|a| {
                let prefix = format!("{}/", a.entry);
                self.holds.range(prefix.clone()..).next().is_some_and(|(h, _)| h.starts_with(&prefix))
            })
            || extra.entries.keys().chain(extra.deleted.keys()).any(|k| {
                let prefix = format!("{k}/");
                self.status_changes.range(prefix.clone()..).next().is_some_and(|(c, _)| c.starts_with(&prefix))
            });
        if clash {
            return false;
        }
        let touched = extra.buckets();
        self.parts = std::mem::take(&mut self.parts).after(Some(touched));
        self.schema = self.schema.max(extra.schema);
        if extra.space_id.is_some() {
            self.space_id = extra.space_id;
            self.space_ids = extra.space_ids;
        }
        self.persons.extend(extra.persons);
        self.devices.extend(extra.devices);
        self.entries.extend(extra.entries);
        self.deleted.extend(extra.deleted);
        self.markers.extend(extra.markers);
        self.signatures.endorsements.extend(extra.signatures.endorsements);
        self.signatures.revocations.extend(extra.signatures.revocations);
        self.acks.extend(extra.acks);
        self.covers.extend(names);
        true
    }

    /// Entries whose id starts with `prefix`.
    pub fn matching(&self, prefix: &str) -> impl Iterator<Item = &Entry> + '_ {
        let prefix = prefix.to_string();
        self.entries
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(|(_, e)| e)
    }

    /// The entry with this id or unique id prefix.
    pub fn resolve(&self, prefix: &str) -> Result<&Entry, JournalError> {
        let mut hits = self.matching(prefix);
        match (hits.next(), hits.next()) {
            (None, _) => Err(JournalError::NotFound {
                prefix: prefix.to_string(),
            }),
            (Some(e), None) => Ok(e),
            (Some(a), Some(b)) => {
                let mut candidates = vec![a.id.clone(), b.id.clone()];
                candidates.extend(hits.take(8).map(|e| e.id.clone()));
                Err(JournalError::Ambiguous {
                    prefix: prefix.to_string(),
                    candidates,
                })
            }
        }
    }

    /// What may be shown under `entry` (see [`crate::replies`]), without the replies a lift
    /// of "no replies" by its author keeps hidden (whose seal only the author's devices can
    /// check: [`crate::Judge::replies`]).
    pub fn replies(&self, entry: &Entry) -> Replies<'_> {
        crate::listening::replies_except(&self.acks, entry, |a| self.is_held(a, |h| h.by == entry.author))
    }

    /// Is reply `a` held by a lift of "no replies" that `counts` (see [`Contents::held`])?
    pub fn is_held(&self, a: &Ack, counts: impl Fn(&Hold) -> bool) -> bool {
        self.held.get(&format!("{}/{}", a.entry, a.id)).is_some_and(|lifts| {
            lifts
                .iter()
                .any(|k| self.holds.get(k).is_some_and(|h| h.entry == a.entry && counts(h)))
        })
    }

    /// A boundary's history of status changes by its author, oldest first.
    pub fn history(&self, entry: &Entry) -> Vec<&StatusChange> {
        crate::boundaries::history(&self.status_changes, entry)
    }

    /// A person's name as stored (for `--json`), with its note if the signatures show
    /// another name than the document holds; a short form of the id when unknown.
    pub fn person_name(&self, id: &str) -> String {
        let name = self
            .persons
            .get(id)
            .map(|p| p.name.clone())
            .unwrap_or_else(|| format!("unknown ({})", crate::text::short(id, 8)));
        match self.person_note(id) {
            Some(note) => format!("{name} ({note})"),
            None => name,
        }
    }

    /// A person's name as a terminal shows it: escaped and marked when not valid (see
    /// [`crate::text::field`]), and with its note; a short form of the id when unknown.
    pub fn shown_name(&self, id: &str) -> String {
        let name = match self.persons.get(id) {
            Some(p) => crate::text::field(crate::text::Field::Name, &p.name).into_owned(),
            None => format!("unknown ({})", crate::text::short(id, 8)),
        };
        match self.person_note(id) {
            Some(note) => format!("{name} ({note})"),
            None => name,
        }
    }

    /// Why person `id`'s name is shown as it is, when it is not what the document holds.
    pub fn person_note(&self, id: &str) -> Option<&str> {
        if self.notes.is_empty() {
            return None;
        }
        self.notes.get(&format!("person/{id}")).map(String::as_str)
    }

    /// Why device `id`'s record is shown as it is, when it is not what the document holds.
    pub fn device_note(&self, id: &str) -> Option<&str> {
        if self.notes.is_empty() {
            return None;
        }
        self.notes.get(&format!("device/{id}")).map(String::as_str)
    }
}

/// Which entries to list, and in what order.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// Only these kinds (all when empty).
    pub kinds: Vec<crate::Kind>,
    /// Entries carrying every one of these tags.
    pub tags: Vec<String>,
    /// Created at or after (ms since the epoch).
    pub since: Option<i64>,
    /// Created before (ms since the epoch).
    pub until: Option<i64>,
    /// Case-insensitive text that the body or a tag must contain.
    pub text: Option<String>,
}

impl Query {
    pub fn matches(&self, e: &Entry) -> bool {
        self.matcher()(e)
    }

    /// [`Query::matches`] with the text lowercased once, to match many entries.
    pub fn matcher(&self) -> impl Fn(&Entry) -> bool + Sync + '_ {
        let needle = self.text.as_ref().map(|t| t.to_lowercase());
        move |e: &Entry| {
            (self.kinds.is_empty() || self.kinds.contains(&e.kind))
                && self
                    .tags
                    .iter()
                    .all(|t| e.tags.iter().any(|et| et.eq_ignore_ascii_case(t)))
                && self.since.is_none_or(|s| e.created_at >= s)
                && self.until.is_none_or(|u| e.created_at < u)
                && needle.as_deref().is_none_or(|n| e.matches(n))
        }
    }
}

/// The order entries are listed in: newest first; when only boundaries are listed,
/// active ones come first, then those to revisit, then retired ones.
pub fn entry_order(a: &Entry, b: &Entry, boundaries_by_status: bool) -> std::cmp::Ordering {
    entry_order_key(a, boundaries_by_status).cmp(&entry_order_key(b, boundaries_by_status))
}

/// Where `e` sorts in [`entry_order`], as a key to keep without the entry: keys compare
/// as their entries do.
pub fn entry_order_key(e: &Entry, boundaries_by_status: bool) -> (u8, std::cmp::Reverse<i64>, &str) {
    let rank = if boundaries_by_status {
        e.status.map(|s| s as u8).unwrap_or(0)
    } else {
        0
    };
    (rank, std::cmp::Reverse(e.created_at), &e.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_goes_in_the_part_of_its_first_two_hex_digits() {
        assert_eq!(bucket("00ff"), 0);
        assert_eq!(bucket("a7c0ffee"), 0xa7);
        assert_eq!(bucket("ff/reply"), 0xff);
        // Anything else (upper case, not hex, too short) in part 0, never a panic.
        for odd in ["A7", "zz", "7", "", "é7", "7/"] {
            assert_eq!(bucket(odd), 0, "{odd:?}");
        }
    }

    #[test]
    fn a_part_holding_a_key_of_another_part_is_refused() {
        let entry = |id: &str| Entry {
            id: id.into(),
            kind: crate::Kind::Reflection,
            author: "p1".into(),
            device: "d1".into(),
            created_at: 1,
            edited_at: 1,
            body: "hello".into(),
            tags: Vec::new(),
            status: None,
            conflicts: Vec::new(),
            auth: Vec::new(),
            no_replies: false,
            prompt: None,
            seals: Default::default(),
        };
        let mut contents = Contents::default();
        contents.entries.insert("a700".into(), entry("a700"));
        let view = View::new(contents, BTreeSet::new());
        let encoded = view.encode_split(|_| None);
        assert_eq!(encoded.names.keys().copied().collect::<Vec<_>>(), vec![0xa7]);
        let (_, bytes) = &encoded.parts[0];
        assert!(Part::decode(bytes, 0xa7).is_ok());
        let err = Part::decode(bytes, 0x12).err().expect("refused in another bucket");
        assert!(err.contains("a700"), "{err}");
        assert!(Part::decode(b"duo-view-part\nnot postcard", 0xa7).is_err());
        assert!(Part::decode(b"", 0xa7).is_err());
    }
}
