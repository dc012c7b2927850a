//! Membership records as they were written, read from the change history.
//!
//! Any replica can overwrite or delete any key of the shared document, so what the document
//! holds *now* under `device/…`, `endorse/…`, `revoke/…`, `person/…`, `name/…` or
//! `rotate/…` proves little: a partner's modified client can replace one of your device
//! records, or delete one of your revocations. What it cannot do is take back a change that
//! was already made: automerge keeps every change, identified by its hash. So duo reads
//! these records from the history: a **record** is a map made under one of those keys
//! together with the fields written into it *in the same change* (exactly how duo writes
//! them). A later edit of its fields, or its deletion, makes a new state of the document,
//! never a new record; whoever overwrites a record with a map of their own makes a record
//! of their own, which counts only if it is validly signed (duo-device decides that).
//!
//! Each record keeps the change that wrote it, and [`History::order`] the causal order of
//! those changes ([`crate::causal`]), so that "was this signed after that revocation" has
//! an answer.
//!
//! Cost: reading the whole history decodes every change once (about 300 ms at 10k entries
//! in a release build, on top of reading the entries); the stored view keeps the result,
//! and a sync reads only the changes it brought.

use crate::causal::{Causal, Order};
use automerge::{Automerge, ChangeHash, ObjType, ScalarValue, legacy};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The root key prefixes whose maps are membership records.
pub const RECORD_PREFIXES: [&str; 6] = [
    crate::schema::DEVICE,
    crate::schema::ENDORSE,
    crate::schema::REVOKE,
    crate::schema::PERSON,
    crate::schema::NAMES,
    crate::schema::ROTATE,
];

/// The root key prefixes of what carries seals (whose timing against a rotation matters).
const SEALED_PREFIXES: [&str; 4] = [
    crate::schema::ENTRY,
    crate::schema::BSTATUS,
    crate::schema::ACK,
    crate::schema::SEALING,
];

/// At most this many changes that wrote records have their causal order kept (k² bits).
/// Records of changes past it still count, but as concurrent with every other record: a
/// space with more than this many membership changes is far beyond what pairing and
/// revoking make (a few per device), so only a flood of forged records gets there.
pub const MAX_ORDERED: usize = 4096;

/// One field of a record as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Field {
    Str(String),
    Int(i64),
    Bytes(Vec<u8>),
}

/// A membership record: a map made under a membership key, with the fields the same change
/// wrote into it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The root key, e.g. `revoke/<device>/<by>`.
    pub key: String,
    /// The change that wrote it.
    pub change: [u8; 32],
    pub fields: BTreeMap<String, Field>,
}

impl Record {
    /// A text field.
    pub fn str(&self, name: &str) -> Option<&str> {
        match self.fields.get(name)? {
            Field::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A number or time field.
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.fields.get(name)? {
            Field::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// A bytes field.
    pub fn bytes(&self, name: &str) -> Option<&[u8]> {
        match self.fields.get(name)? {
            Field::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The key after its prefix (`revoke/A/B` → `A/B`) when it has this prefix.
    pub fn id(&self, prefix: &str) -> Option<&str> {
        self.key.strip_prefix(prefix)
    }
}

/// When a seal made with a key that a rotation retired was written, as the change graph
/// says: before the rotation (its writer still held that key rightly), concurrently with
/// it (not knowing of it), or after it (knowing of it: no honest device seals with a
/// retired key then).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Timing {
    Before,
    Concurrent,
    After,
}

/// Every membership record the history holds, and their causal order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    pub records: Vec<Record>,
    /// The causal order of the changes that wrote them.
    pub order: Order,
    /// The document heads this history covers (it holds every record of their ancestry).
    pub heads: Vec<[u8; 32]>,
    /// Seals (as strings) made with a key some rotation record retires that were not
    /// written before every such rotation: [`Timing::Concurrent`] or [`Timing::After`].
    timing: BTreeMap<String, Timing>,
    /// The key ids `timing` covers: a seal made with one of them and not in `timing` was
    /// written before the rotations that retire it.
    timed: Vec<String>,
    /// The changes of the rotation records `timing` was worked out against.
    timed_against: Vec<[u8; 32]>,
}

impl History {
    /// Read every record of `doc`'s history.
    pub fn read(doc: &Automerge) -> History {
        History::default().brought_up_to(doc)
    }

    /// This history with the records `doc` holds beyond it: only the changes made since
    /// [`History::heads`] are read when `doc` has all of them, else the whole history.
    pub fn brought_up_to(mut self, doc: &Automerge) -> History {
        let heads: Vec<ChangeHash> = self.heads.iter().map(|h| ChangeHash(*h)).collect();
        if !heads.iter().all(|h| doc.get_change_meta_by_hash(h).is_some())
            || (heads.is_empty() && !self.records.is_empty())
        {
            self = History::default();
        }
        let since: Vec<ChangeHash> = self.heads.iter().map(|h| ChangeHash(*h)).collect();
        self.add_since(doc, &since);
        self.time_seals(doc, (!self.heads.is_empty()).then_some(&since));
        self.heads = doc.get_heads().iter().map(|h| h.0).collect();
        self
    }

    /// The heads this history covers, when `doc` holds every one of them (and there are
    /// some): contents read out together with this history are the state of `doc` at these
    /// heads, so what changed since is [`crate::SpaceDoc::refresh_contents`]'s to read.
    pub fn heads_within(&self, doc: &Automerge) -> Option<Vec<ChangeHash>> {
        let heads: Vec<ChangeHash> = self.heads.iter().map(|h| ChangeHash(*h)).collect();
        (!heads.is_empty() && heads.iter().all(|h| doc.get_change_meta_by_hash(h).is_some())).then_some(heads)
    }

    /// When `seal` (a seal string) was written relative to the rotations that retired its
    /// key: `None` when no rotation record retires it (or it was not worked out).
    pub fn timing_of(&self, seal: &str) -> Option<Timing> {
        let key = crate::seal::Seal::parse(seal)?.key.to_string();
        self.timed
            .contains(&key)
            .then(|| self.timing.get(seal).copied().unwrap_or(Timing::Before))
    }

    /// Work out [`History::timing_of`] for the seals in `doc` made with a key some rotation
    /// retires: for everything when the rotations changed (or `since` is `None`), else for
    /// the root keys changed since `since`. Cost: with r rotations, 2r passes over the
    /// change graph and, the first time, one read of every sealed item (a read of the whole
    /// journal); then only what each sync or write changed.
    fn time_seals(&mut self, doc: &Automerge, since: Option<&[ChangeHash]>) {
        use automerge::{ROOT, ReadDoc, Value};
        let mut retiring: BTreeMap<String, Vec<ChangeHash>> = BTreeMap::new();
        for r in self.under(crate::schema::ROTATE) {
            if let Some(k) = r.str(crate::schema::RETIRES) {
                retiring.entry(k.to_string()).or_default().push(ChangeHash(r.change));
            }
        }
        if retiring.is_empty() {
            self.timing.clear();
            self.timed.clear();
            self.timed_against.clear();
            return;
        }
        let mut against: Vec<[u8; 32]> = retiring.values().flatten().map(|h| h.0).collect();
        against.sort();
        against.dedup();
        let full = since.is_none() || against != self.timed_against;
        let keys: Vec<String> = match since {
            Some(since) if !full => changed_root_keys(doc, since),
            _ => {
                self.timing.clear();
                doc.map_range(ROOT, ..).map(|i| i.key.to_string()).collect()
            }
        };
        let keys: Vec<String> = keys
            .into_iter()
            .filter(|k| SEALED_PREFIXES.iter().any(|p| k.starts_with(p)))
            .collect();
        if !keys.is_empty() {
            let causal = Causal::new(doc);
            let around: HashMap<ChangeHash, (HashSet<ChangeHash>, HashSet<ChangeHash>)> = against
                .iter()
                .map(|h| {
                    let h = ChangeHash(*h);
                    (h, (causal.ancestors(&h), causal.descendants(&h)))
                })
                .collect();
            let classify = |key: &str, change: Option<ChangeHash>| {
                let Some(c) = change else { return Timing::Concurrent };
                let rotations = &retiring[key];
                if rotations.iter().any(|r| around[r].1.contains(&c)) {
                    Timing::After
                } else if rotations.iter().all(|r| *r == c || around[r].0.contains(&c)) {
                    Timing::Before
                } else {
                    Timing::Concurrent
                }
            };
            let mut found: Vec<(String, automerge::ObjId)> = Vec::new();
            for key in &keys {
                if let Ok(Some((Value::Object(_), obj))) = doc.get(ROOT, key.as_str()) {
                    sealed_strings(doc, &obj, 2, &mut found);
                }
            }
            for (seal, id) in found {
                let Some(key) = crate::seal::Seal::parse(&seal).map(|s| s.key.to_string()) else {
                    continue;
                };
                if !retiring.contains_key(&key) {
                    continue;
                }
                match classify(&key, causal.change_of(&id)) {
                    Timing::Before => self.timing.remove(&seal),
                    t => self.timing.insert(seal, t),
                };
            }
        }
        self.timed = retiring.into_keys().collect();
        self.timed_against = against;
    }

    /// Add the records of the changes made since `heads` (which this history already
    /// covers), and order them with the others.
    fn add_since(&mut self, doc: &Automerge, heads: &[ChangeHash]) {
        let fresh = scan(doc, heads);
        if fresh.is_empty() {
            return;
        }
        for r in fresh {
            if !self.records.iter().any(|x| x.key == r.key && x.change == r.change) {
                self.records.push(r);
            }
        }
        let mut changes: Vec<ChangeHash> = Vec::new();
        for r in &self.records {
            let h = ChangeHash(r.change);
            if !changes.contains(&h) && changes.len() < MAX_ORDERED {
                changes.push(h);
            }
        }
        self.order = Causal::new(doc).order_of(&changes);
    }

    /// Records under `prefix`.
    pub fn under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a Record> + 'a {
        self.records.iter().filter(move |r| r.key.starts_with(prefix))
    }

    /// How many ordered records' changes come causally before `r`'s: sorting by it puts
    /// every record after those it was written knowing.
    pub fn depth(&self, r: &Record) -> usize {
        self.order.position(&r.change).map_or(0, |i| self.order.depth(i))
    }

    /// Was `earlier`'s change a strict ancestor of `later`'s (was `later` written by a
    /// device that already had `earlier`)? False when either is not ordered.
    pub fn before(&self, earlier: &Record, later: &Record) -> bool {
        match (self.order.position(&earlier.change), self.order.position(&later.change)) {
            (Some(e), Some(l)) => self.order.before(e, l),
            _ => false,
        }
    }
}

/// The root keys whose items changed between `since` and `doc`'s heads.
fn changed_root_keys(doc: &Automerge, since: &[ChangeHash]) -> Vec<String> {
    use automerge::{PatchAction, Prop};
    let mut keys = std::collections::BTreeSet::new();
    for p in doc.diff(since, &doc.get_heads()) {
        match (p.path.first(), &p.action) {
            (Some((_, Prop::Map(k))), _) => keys.insert(k.clone()),
            (None, PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key }) => keys.insert(key.clone()),
            (
                None,
                PatchAction::Conflict {
                    prop: Prop::Map(key), ..
                },
            ) => keys.insert(key.clone()),
            _ => false,
        };
    }
    keys.into_iter().collect()
}

/// Every string in `obj` (each concurrent value, and in maps below it down to `depth`)
/// that holds a seal (`s2.…`, or a tag's `+s2.…` / `-s2.…`), with the op that wrote it.
fn sealed_strings(doc: &Automerge, obj: &automerge::ObjId, depth: usize, out: &mut Vec<(String, automerge::ObjId)>) {
    use automerge::{ReadDoc, Value};
    let keys: Vec<String> = doc.map_range(obj, ..).map(|i| i.key.to_string()).collect();
    for k in keys {
        for (v, id) in doc.get_all(obj, k.as_str()).unwrap_or_default() {
            match v {
                Value::Object(ObjType::Map) if depth > 0 => sealed_strings(doc, &id, depth - 1, out),
                Value::Scalar(s) => {
                    if let Some(text) = s.as_str() {
                        let seal = text.trim_start_matches(['+', '-']);
                        if seal.starts_with(crate::seal::SEAL_PREFIX) {
                            out.push((seal.to_string(), id));
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

fn field(v: &ScalarValue) -> Option<Field> {
    Some(match v {
        ScalarValue::Str(s) => Field::Str(s.to_string()),
        ScalarValue::Int(n) | ScalarValue::Timestamp(n) => Field::Int(*n),
        ScalarValue::Uint(n) => Field::Int(i64::try_from(*n).ok()?),
        ScalarValue::Bytes(b) => Field::Bytes(b.clone()),
        _ => return None,
    })
}

/// The records written by the changes made since `heads`. Automerge's own consistency
/// checks (in debug builds) can panic on a document holding crafted changes; that reads as
/// no records, as any other unreadable change does.
fn scan(doc: &Automerge, heads: &[ChangeHash]) -> Vec<Record> {
    let changes = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| doc.get_changes(heads)));
    let mut out = Vec::new();
    for change in changes.unwrap_or_default() {
        let hash = change.hash();
        let expanded = change.decode();
        let start = expanded.start_op.get();
        // The records this change made: op counter → index in `out`.
        let mut made: HashMap<u64, usize> = HashMap::new();
        for (i, op) in expanded.operations.iter().enumerate() {
            let counter = start + i as u64;
            match (&op.obj, &op.key, &op.action) {
                (legacy::ObjectId::Root, legacy::Key::Map(k), legacy::OpType::Make(ObjType::Map))
                    if RECORD_PREFIXES.iter().any(|p| k.starts_with(p)) =>
                {
                    made.insert(counter, out.len());
                    out.push(Record {
                        key: k.to_string(),
                        change: hash.0,
                        fields: BTreeMap::new(),
                    });
                }
                (legacy::ObjectId::Id(obj), legacy::Key::Map(f), legacy::OpType::Put(v))
                    if *obj.actor() == expanded.actor_id =>
                {
                    if let (Some(i), Some(v)) = (made.get(&obj.counter()), field(v)) {
                        out[*i].fields.insert(f.to_string(), v);
                    }
                }
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::{AutoCommit, ROOT, transaction::Transactable};

    fn record(doc: &mut AutoCommit, key: &str, sig: &str) -> ChangeHash {
        let o = doc.put_object(ROOT, key, ObjType::Map).unwrap();
        doc.put(&o, "sig", sig).unwrap();
        doc.put(&o, "at", ScalarValue::Timestamp(5)).unwrap();
        doc.commit().unwrap()
    }

    #[test]
    fn records_survive_overwrites_and_deletions_and_keep_their_order() {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "schema", 1).unwrap();
        let first = record(&mut doc, "revoke/p/l", "by l");
        let mut other = doc.fork();
        let second = record(&mut doc, "endorse/x/l", "l vouches for x");
        // Another replica, not knowing `second`, overwrites the first record's field in
        // place, then deletes it, then writes a map of its own under the same key.
        let o = match automerge::ReadDoc::get(&other, ROOT, "revoke/p/l").unwrap() {
            Some((_, id)) => id,
            None => unreachable!(),
        };
        other.put(&o, "sig", "changed in place").unwrap();
        other.commit();
        other.delete(ROOT, "revoke/p/l").unwrap();
        other.commit();
        let theirs = record(&mut other, "revoke/p/l", "forged");
        doc.merge(&mut other).unwrap();
        // Not a record: a map under another key, a scalar under a record key.
        doc.put(ROOT, "device/scalar", "x").unwrap();
        let o = doc.put_object(ROOT, "entry/e", ObjType::Map).unwrap();
        doc.put(&o, "sig", "no").unwrap();
        doc.commit();

        let h = History::read(doc.document());
        let mut sigs: Vec<(&str, &str)> = h
            .records
            .iter()
            .map(|r| (r.key.as_str(), r.str("sig").unwrap()))
            .collect();
        sigs.sort();
        assert_eq!(
            sigs,
            vec![
                ("endorse/x/l", "l vouches for x"),
                ("revoke/p/l", "by l"),
                ("revoke/p/l", "forged")
            ]
        );
        let by = |c: ChangeHash| h.records.iter().find(|r| r.change == c.0).unwrap();
        assert_eq!(by(first).int("at"), Some(5));
        assert!(h.before(by(first), by(second)) && h.before(by(first), by(theirs)));
        assert!(!h.before(by(second), by(theirs)) && !h.before(by(theirs), by(second)));

        // Read in two steps (as a sync does), the same.
        let mut partial = doc.fork_at(&[first]).unwrap();
        let early = History::read(partial.document());
        assert_eq!(early.records.len(), 1);
        let mut again = early.brought_up_to(doc.document());
        again.records.sort_by_key(|r| (r.key.clone(), r.change));
        let mut all = h.clone();
        all.records.sort_by_key(|r| (r.key.clone(), r.change));
        assert_eq!(again.records, all.records);
        assert!(again.before(by(first), by(theirs)));
    }
}
