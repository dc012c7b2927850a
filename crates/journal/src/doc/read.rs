//! Reading a document out into plain types: its contents, what a change did to the
//! entries, and the answers of its history (held replies, restorable entries).

use super::*;

/// At most this many entries present before and after a change are checked one by one for
/// edits; with more, one diff of the whole document is cheaper.
pub(super) const EDIT_CHECK_EACH: usize = 64;

/// A root key split into its prefix (with the slash, e.g. [`ENTRY`]) and the rest.
pub(super) fn split_root_key(key: &str) -> Option<(&str, &str)> {
    let slash = key.find('/')?;
    Some(key.split_at(slash + 1))
}

/// Show a boundary with the status its author's newest change gave it.
pub(super) fn overlay_status(c: &mut Contents, id: &str) {
    if let Some(e) = c.entries.get(id)
        && let Some(s) = effective_status(&c.status_changes, e)
    {
        let s = Some(s);
        if let Some(e) = c.entries.get_mut(id) {
            e.status = s;
        }
    }
}

impl SpaceDoc {
    /// Read everything out into plain types. Entries that a foreign or damaged replica
    /// wrote without the required fields are left out rather than guessed at.
    pub fn contents(&self) -> Contents {
        let mut c = Contents {
            schema: self.schema(),
            ..Default::default()
        };
        c.space_ids = self.space_ids();
        c.space_id = c.space_ids.first().cloned();
        for item in self.doc.map_range(ROOT, ..) {
            let key = item.key.as_ref();
            self.read_item(&mut c, key, &item.id());
        }
        let boundaries: Vec<String> = c.status_changes.values().map(|s| s.entry.clone()).collect();
        for id in boundaries {
            overlay_status(&mut c, &id);
        }
        c
    }

    /// The entries that changed between `before` (earlier heads of this document) and now.
    /// Only the entries the new changes touch are looked at ([`SpaceDoc::root_keys_since`]):
    /// whether each existed before and exists now gives what was added and deleted; one in
    /// both counts as edited when its fields or its boundary status changed (checked entry
    /// by entry with an automerge diff when few were touched). The cost follows the size of
    /// the change, not of the journal.
    pub fn entry_changes(&mut self, before: &[automerge::ChangeHash]) -> EntryChanges {
        let mut after = self.doc.get_heads();
        let mut sorted = before.to_vec();
        sorted.sort();
        after.sort();
        if sorted == after {
            return EntryChanges::default();
        }
        let Some(keys) = self.root_keys_since(before) else {
            return self.entry_changes_by_scan(before, &after);
        };
        let mut ids: BTreeMap<String, bool> = BTreeMap::new();
        for key in &keys {
            if let Some(id) = key.strip_prefix(ENTRY) {
                ids.entry(id.to_string()).or_insert(false);
            } else if let Some((id, _)) = key.strip_prefix(BSTATUS).and_then(|k| k.split_once('/')) {
                // A status change is an edit of its boundary whatever the entry's fields say.
                ids.insert(id.to_string(), true);
            }
        }
        let check_each = ids.len() <= EDIT_CHECK_EACH;
        let mut changes = EntryChanges::default();
        for (id, by_status) in ids {
            match (self.present(&id, Some(before)), self.present(&id, None)) {
                (false, true) => changes.added.push(id),
                (true, false) => changes.deleted.push(id),
                (true, true) if by_status || !check_each || self.entry_differs(&id, before, &after) => {
                    changes.edited.push(id)
                }
                _ => {}
            }
        }
        changes
    }

    /// Entry `id` is in the document (at heads `at`, or now) and has no tombstone: a
    /// deletion is a sealed tombstone (`deleted`), so an entry that has one is gone.
    fn present(&self, id: &str, at: Option<&[automerge::ChangeHash]>) -> bool {
        let key = format!("{ENTRY}{id}");
        let obj = match at {
            Some(h) => self.doc.get_at(ROOT, &key, h),
            None => self.doc.get(ROOT, &key),
        };
        let Ok(Some((Value::Object(_), obj))) = obj else {
            return false;
        };
        let flag = match at {
            Some(h) => self.doc.get_at(&obj, DELETED, h),
            None => self.doc.get(&obj, DELETED),
        };
        !matches!(flag, Ok(Some((Value::Scalar(v), _))) if matches!(v.as_ref(), ScalarValue::Boolean(true)))
    }

    /// Did anything inside entry `id`'s object change between the heads? An entry object
    /// that did not exist before (the key was put again) is an edit too.
    fn entry_differs(&mut self, id: &str, before: &[automerge::ChangeHash], after: &[automerge::ChangeHash]) -> bool {
        let Ok(Some((_, obj))) = self.doc.get(ROOT, format!("{ENTRY}{id}")) else {
            return false;
        };
        self.doc
            .diff_obj(&obj, before, after, true)
            .map_or(true, |patches| !patches.is_empty())
    }

    /// [`SpaceDoc::entry_changes`] by looking at every entry before and after (for changes
    /// whose touched keys could not be worked out; cost proportional to the document).
    fn entry_changes_by_scan(
        &mut self,
        before: &[automerge::ChangeHash],
        after: &[automerge::ChangeHash],
    ) -> EntryChanges {
        fn ids<'a>(keys: impl Iterator<Item = automerge::iter::MapRangeItem<'a>>) -> BTreeSet<String> {
            keys.map_while(|i| i.key.strip_prefix(ENTRY).map(str::to_string))
                .collect()
        }
        let was: BTreeSet<String> = ids(self.doc.map_range_at(ROOT, ENTRY.to_string().., before))
            .into_iter()
            .filter(|id| self.present(id, Some(before)))
            .collect();
        let is: BTreeSet<String> = ids(self.doc.map_range(ROOT, ENTRY.to_string()..))
            .into_iter()
            .filter(|id| self.present(id, None))
            .collect();
        // A status change is an edit of its boundary whatever the entry's fields say: the
        // boundaries with a status record now that was not there before.
        fn statuses<'a>(keys: impl Iterator<Item = automerge::iter::MapRangeItem<'a>>) -> BTreeSet<String> {
            keys.map_while(|i| i.key.strip_prefix(BSTATUS).map(str::to_string))
                .collect()
        }
        let status_before = statuses(self.doc.map_range_at(ROOT, BSTATUS.to_string().., before));
        let restatused: BTreeSet<String> = statuses(self.doc.map_range(ROOT, BSTATUS.to_string()..))
            .difference(&status_before)
            .filter_map(|k| k.split_once('/').map(|(id, _)| id.to_string()))
            .collect();
        let both: Vec<&String> = was.intersection(&is).collect();
        let edited: Vec<String> = if both.len() <= EDIT_CHECK_EACH {
            both.into_iter()
                .filter(|id| restatused.contains(*id) || self.entry_differs(id, before, after))
                .cloned()
                .collect()
        } else {
            let touched = self.touched_entries(before, after);
            both.into_iter()
                .filter(|id| restatused.contains(*id) || touched.contains(*id))
                .cloned()
                .collect()
        };
        EntryChanges {
            added: is.difference(&was).cloned().collect(),
            edited,
            deleted: was.difference(&is).cloned().collect(),
        }
    }

    /// The root keys (`entry/…`, `person/…`, `bstatus/…`) that the changes made since
    /// `before` wrote to, directly or inside the objects under them: read from those
    /// changes' operations, so the cost is that of the changes. A key can be listed whose
    /// shown value did not change (a write that lost a conflict). `None` when an operation's
    /// object cannot be traced to a root key, or automerge's own consistency checks (in
    /// debug builds) panic on a document holding crafted changes: then a caller reads the
    /// whole document. Also `None` when the changes hold more than an eighth of the
    /// document's operations (a first sync): reading the whole document is cheaper then.
    pub fn root_keys_since(&mut self, before: &[automerge::ChangeHash]) -> Option<BTreeSet<String>> {
        use automerge::legacy::{Key, ObjectId};
        let doc = self.doc.document();
        let new_ops: u64 = (doc.get_changes_meta(before).iter())
            .map(|c| c.max_op.saturating_sub(c.start_op.saturating_sub(1)))
            .sum();
        if new_ops.saturating_mul(8) > doc.stats().num_ops {
            return None;
        }
        let changes = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| doc.get_changes(before))).ok()?;
        let mut keys = BTreeSet::new();
        let mut objects = BTreeSet::new();
        for change in changes {
            for op in change.decode().operations {
                match (op.obj, op.key) {
                    (ObjectId::Root, Key::Map(k)) => {
                        keys.insert(k.to_string());
                    }
                    (ObjectId::Root, Key::Seq(_)) => return None,
                    (ObjectId::Id(id), _) => {
                        objects.insert(id.to_string());
                    }
                }
            }
        }
        for o in objects {
            let (obj, _) = self.doc.import(&o).ok()?;
            let top = self.doc.parents(&obj).ok()?.last()?;
            match top.prop {
                automerge::Prop::Map(k) if top.obj == ROOT => keys.insert(k),
                _ => return None,
            };
        }
        Some(keys)
    }

    /// The ids of entries whose root key, fields or boundary status changed between the two
    /// heads (one diff of the whole document).
    pub(super) fn touched_entries(
        &mut self,
        before: &[automerge::ChangeHash],
        after: &[automerge::ChangeHash],
    ) -> BTreeSet<String> {
        use automerge::{PatchAction, Prop};
        let mut ids = BTreeSet::new();
        for p in self.doc.diff(before, after) {
            let key = match (p.path.first(), &p.action) {
                (Some((_, Prop::Map(k))), _) => k.as_str(),
                (None, PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key }) => key.as_str(),
                (
                    None,
                    PatchAction::Conflict {
                        prop: Prop::Map(key), ..
                    },
                ) => key.as_str(),
                _ => continue,
            };
            if let Some(id) = key.strip_prefix(ENTRY) {
                ids.insert(id.to_string());
            } else if let Some((id, _)) = key.strip_prefix(BSTATUS).and_then(|k| k.split_once('/')) {
                ids.insert(id.to_string());
            }
        }
        ids
    }

    /// [`SpaceDoc::contents`] with the membership records of the whole history
    /// ([`crate::history`]). `known`, a history read earlier from this document (e.g. the
    /// stored view's), spares reading again the changes it covers.
    pub fn contents_with_history(&mut self, known: Option<History>) -> Contents {
        let mut c = self.contents();
        c.records = known.unwrap_or_default().brought_up_to(self.doc.document());
        self.judge_history(&mut c);
        c
    }

    /// Fill in what only the change graph says, for the whole of `c`: the restorable
    /// entries and the replies a lift holds.
    pub(super) fn judge_history(&mut self, c: &mut Contents) {
        let deleted: Vec<String> = c.deleted.keys().cloned().collect();
        c.restorable = self.restorable_among(&deleted);
        let lifted: BTreeSet<String> = c.holds.values().map(|h| h.entry.clone()).collect();
        c.held = self.held_among(c, &lifted);
    }

    /// The replies to the entries `ids` that a lift of "no replies" keeps hidden for good
    /// (keyed `<entry>/<ack>`, each with the lifts that hold it). A reply is held by a lift
    /// `held/<entry>/<lift>` when, for one of the switch-on writes the lift names, the
    /// reply's change is neither an ancestor of the switch-on's (written before it was on)
    /// nor the lift's or a descendant of it (written after it was lifted): it was written
    /// concurrently with the switch-on, or while it was on. Cost: nothing for entries
    /// without both a lift and a reply; otherwise one read of the change graph and one pass
    /// over it for all of them together ([`crate::causal::Causal::order_of`], O(n · k / 64)
    /// for n changes and k changes of replies, switch-ons and lifts), then one bit test per
    /// reply, lift and switch-on of the same entry. [`SpaceDoc::refresh_contents`] asks this
    /// only for the entries a reply or a lift arrived for.
    pub fn held_among(&mut self, c: &Contents, ids: &BTreeSet<String>) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        fn keys_of<V>(map: &BTreeMap<String, V>, id: &str) -> Vec<String> {
            let prefix = format!("{id}/");
            map.range(prefix.clone()..)
                .map(|(k, _)| k)
                .take_while(|k| k.starts_with(&prefix))
                .cloned()
                .collect()
        }
        let mut todo: Vec<(Vec<String>, Vec<String>)> = Vec::new();
        for id in ids {
            let (holds, acks) = (keys_of(&c.holds, id), keys_of(&c.acks, id));
            if !holds.is_empty() && !acks.is_empty() {
                todo.push((holds, acks));
            }
        }
        if todo.is_empty() {
            return out;
        }
        let graph = crate::causal::Causal::new(self.doc.document());
        let change = |doc: &AutoCommit, key: String| match doc.get(ROOT, key.as_str()) {
            Ok(Some((Value::Object(_), o))) => graph.change_of(&o),
            _ => None,
        };
        // (reply key, its change), (lift key, its change, its switch-ons' changes).
        type Reply = (String, automerge::ChangeHash);
        type Lift = (String, automerge::ChangeHash, Vec<automerge::ChangeHash>);
        let mut cases: Vec<(Vec<Reply>, Vec<Lift>)> = Vec::new();
        let mut all = Vec::new();
        for (holds, acks) in todo {
            let replies: Vec<Reply> = acks
                .into_iter()
                .filter_map(|k| Some((k.clone(), change(&self.doc, format!("{ACK}{k}"))?)))
                .collect();
            let lifts: Vec<Lift> = holds
                .into_iter()
                .filter_map(|k| {
                    let lift = change(&self.doc, format!("{HELD}{k}"))?;
                    let ons = c
                        .holds
                        .get(&k)?
                        .ended
                        .iter()
                        .filter_map(|op| graph.change_of_text(op))
                        .collect();
                    Some((k, lift, ons))
                })
                .collect();
            all.extend(replies.iter().map(|(_, h)| *h));
            for (_, lift, ons) in &lifts {
                all.push(*lift);
                all.extend(ons.iter().copied());
            }
            cases.push((replies, lifts));
        }
        let order = graph.order_of(&all);
        let index: std::collections::HashMap<[u8; 32], usize> =
            order.changes.iter().enumerate().map(|(i, h)| (*h, i)).collect();
        let at = |h: &automerge::ChangeHash| index.get(&h.0).copied();
        let before = |a: &automerge::ChangeHash, b: &automerge::ChangeHash| match (at(a), at(b)) {
            (Some(a), Some(b)) => order.before(a, b),
            _ => false,
        };
        for (replies, lifts) in cases {
            for (reply, r) in &replies {
                for (lift, l, ons) in &lifts {
                    // A reply in the lift's own change was written knowing it.
                    let after_lift = r == l || before(l, r);
                    if !after_lift && ons.iter().any(|s| !before(r, s)) {
                        out.entry(reply.clone()).or_default().insert(lift.clone());
                    }
                }
            }
        }
        out
    }

    /// Every concurrent value of the space's id, smallest first, without repeats. Two
    /// values are only ever present in a space paired by an older duo (a joining device
    /// now takes the inviter's id first, [`SpaceDoc::adopt_space_id`]); every device then
    /// takes the smallest, so all agree once they hold the same changes.
    pub fn space_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .doc
            .get_all(ROOT, SPACE)
            .unwrap_or_default()
            .iter()
            .filter_map(|(v, _)| str_of(v))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Among the deleted entries `ids`, those with a write (their body, status, "no
    /// replies" or a tag) that the deletion did not know of: made concurrently with it, on
    /// a device that had not received it. Those are kept for their author to restore.
    /// Cost: one read of the change graph when any deleted entry has a write that is not
    /// in the deletion's own change, then a walk back from each such deletion.
    pub fn restorable_among(&mut self, ids: &[String]) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut causal: Option<crate::causal::Causal> = None;
        for id in ids {
            let Ok(obj) = self.entry_obj(id) else { continue };
            let deletions: Vec<ObjId> = self
                .doc
                .get_all(&obj, DELETED)
                .unwrap_or_default()
                .into_iter()
                .filter(|(v, _)| matches!(v, Value::Scalar(s) if s.as_ref() == &ScalarValue::Boolean(true)))
                .map(|(_, op)| op)
                .collect();
            if deletions.is_empty() {
                continue;
            }
            let mut writes: Vec<ObjId> = [BODY, STATUS, NO_REPLIES]
                .iter()
                .flat_map(|f| self.doc.get_all(&obj, *f).unwrap_or_default())
                .map(|(_, op)| op)
                .collect();
            let sets: Vec<ObjId> = self
                .doc
                .get_all(&obj, TAGSET)
                .unwrap_or_default()
                .into_iter()
                .filter(|(v, _)| matches!(v, Value::Object(ObjType::Map)))
                .map(|(_, o)| o)
                .collect();
            for set in &sets {
                let tags: Vec<String> = self.doc.keys(set).collect();
                for t in tags {
                    writes.extend(
                        self.doc
                            .get_all(set, t.as_str())
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(_, op)| op),
                    );
                }
            }
            let graph = causal.get_or_insert_with(|| crate::causal::Causal::new(self.doc.document()));
            let changes = |ops: &[ObjId]| -> Vec<automerge::ChangeHash> {
                ops.iter().filter_map(|o| graph.change_of(o)).collect()
            };
            let (dels, edits) = (changes(&deletions), changes(&writes));
            let unseen = edits
                .iter()
                .any(|e| dels.iter().any(|d| e != d && !graph.is_ancestor(e, d)));
            if unseen {
                out.insert(id.clone());
            }
        }
        out
    }

    /// Bring `c`, the contents of this document at `before` (an earlier state of it), up to
    /// date by reading only the root keys that changed since: after a sync brought one new
    /// entry, this is a few reads instead of the whole journal. Returns the buckets
    /// ([`crate::view::bucket`]) of the entries whose items (the entry, its replies, status
    /// changes and lifts) it read again; `None` when it read everything.
    pub fn refresh_contents(&mut self, c: &mut Contents, before: &[automerge::ChangeHash]) -> Option<BTreeSet<u8>> {
        c.records = std::mem::take(&mut c.records).brought_up_to(self.doc.document());
        let Some(mut keys) = self.root_keys_since(before) else {
            let records = std::mem::take(&mut c.records);
            *c = self.contents();
            c.records = records;
            self.judge_history(c);
            return None;
        };
        c.schema = self.schema();
        c.space_ids = self.space_ids();
        c.space_id = c.space_ids.first().cloned();
        // A boundary's shown status depends on its changes: re-read the entry with them.
        let touched: Vec<String> = keys
            .iter()
            .filter_map(|k| k.strip_prefix(BSTATUS)?.split_once('/'))
            .map(|(entry, _)| format!("{ENTRY}{entry}"))
            .collect();
        keys.extend(touched);
        // A reply or a lift of "no replies" that arrived: the entry's replies are judged again.
        let lifted: BTreeSet<String> = keys
            .iter()
            .filter_map(|k| k.strip_prefix(ACK).or_else(|| k.strip_prefix(HELD))?.split_once('/'))
            .map(|(entry, _)| entry.to_string())
            .collect();
        let touched_buckets = (keys.iter())
            .filter_map(|k| split_root_key(k))
            .filter(|(kind, _)| [ENTRY, ACK, BSTATUS, HELD].contains(kind))
            .map(|(_, id)| crate::view::bucket(id))
            .collect();
        let mut boundaries = Vec::new();
        for key in keys {
            if let Some((kind, id)) = split_root_key(&key) {
                match kind {
                    ENTRY => c.entries.remove(id).or_else(|| c.deleted.remove(id)).map(|_| ()),
                    SEALING => c.markers.remove(id).map(|_| ()),
                    PERSON => c.persons.remove(id).map(|_| ()),
                    DEVICE => c.devices.remove(id).map(|_| ()),
                    ENDORSE => c.signatures.endorsements.remove(id).map(|_| ()),
                    REVOKE => c.signatures.revocations.remove(id).map(|_| ()),
                    ACK => c.acks.remove(id).map(|_| ()),
                    BSTATUS => c.status_changes.remove(id).map(|_| ()),
                    HELD => c.holds.remove(id).map(|_| ()),
                    _ => None,
                };
                if kind == ENTRY {
                    boundaries.push(id.to_string());
                }
            }
            if let Ok(Some((Value::Object(_), obj))) = self.doc.get(ROOT, key.as_str()) {
                self.read_item(c, &key, &obj);
            }
        }
        let touched: Vec<String> = boundaries
            .iter()
            .filter(|id| c.deleted.contains_key(*id))
            .cloned()
            .collect();
        for id in &boundaries {
            c.restorable.remove(id);
        }
        c.restorable.extend(self.restorable_among(&touched));
        for id in boundaries {
            overlay_status(c, &id);
        }
        c.held
            .retain(|k, _| k.split_once('/').is_none_or(|(entry, _)| !lifted.contains(entry)));
        let again = self.held_among(c, &lifted);
        c.held.extend(again);
        Some(touched_buckets)
    }

    /// Read one root item (`entry/…`, `person/…`, `device/…`) into `c`.
    pub(super) fn read_item(&self, c: &mut Contents, key: &str, obj: &ObjId) {
        let Some((kind, id)) = split_root_key(key) else {
            return;
        };
        match kind {
            ENTRY => {
                if let Some(e) = self.read_entry_full(id, obj) {
                    insert_entry(c, e);
                }
            }
            SEALING => {
                if let Some(m) = self.read_marker(id, obj) {
                    c.markers.insert(id.to_string(), m);
                }
            }
            PERSON => {
                if let Some(name) = self.get_str(obj, NAME) {
                    c.persons.insert(
                        id.to_string(),
                        Person {
                            id: id.to_string(),
                            name,
                        },
                    );
                }
            }
            DEVICE => {
                if let (Some(person), Some(label)) = (self.get_str(obj, PERSON_FIELD), self.get_str(obj, LABEL)) {
                    let added_at = self.get_i64(obj, ADDED_AT).unwrap_or(0);
                    c.devices.insert(
                        id.to_string(),
                        Device {
                            id: id.to_string(),
                            person,
                            label,
                            added_at,
                        },
                    );
                }
            }
            ENDORSE | REVOKE => {
                let (Some((device, by)), Some(sig), Some(at)) =
                    (id.split_once('/'), self.get_str(obj, SIG), self.get_i64(obj, AT))
                else {
                    return;
                };
                let (device, by) = (device.to_string(), by.to_string());
                if kind == ENDORSE {
                    let e = Endorsement { device, by, sig, at };
                    c.signatures.endorsements.insert(id.to_string(), e);
                } else {
                    let r = Revocation { device, by, sig, at };
                    c.signatures.revocations.insert(id.to_string(), r);
                }
            }
            ACK => {
                if let Some(a) = self.read_ack(id, obj) {
                    c.acks.insert(id.to_string(), a);
                }
            }
            HELD => {
                if let Some(h) = self.read_hold(id, obj) {
                    c.holds.insert(id.to_string(), h);
                }
            }
            BSTATUS => {
                if let Some(s) = self.read_status_change(id, obj) {
                    c.status_changes.insert(id.to_string(), s);
                }
            }
            _ => {}
        }
    }

    pub(super) fn read_ack(&self, key: &str, obj: &ObjId) -> Option<Ack> {
        let (entry, id) = key.split_once('/')?;
        Some(Ack {
            id: id.to_string(),
            entry: entry.to_string(),
            by: self.get_str(obj, BY)?,
            device: self.get_str(obj, DEVICE_FIELD).unwrap_or_default(),
            kind: self.get_str(obj, KIND)?.parse().ok()?,
            at: self.get_i64(obj, AT)?,
            text: self.get_str(obj, TEXT),
            of: self.get_str(obj, OF),
            seals: self.record_seals(obj),
        })
    }

    pub(super) fn read_hold(&self, key: &str, obj: &ObjId) -> Option<Hold> {
        let (entry, id) = key.split_once('/')?;
        Some(Hold {
            id: id.to_string(),
            entry: entry.to_string(),
            by: self.get_str(obj, BY)?,
            device: self.get_str(obj, DEVICE_FIELD).unwrap_or_default(),
            at: self.get_i64(obj, AT)?,
            ended: self
                .get_str(obj, ENDED)?
                .split('\n')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            seals: self.record_seals(obj),
        })
    }

    pub(super) fn read_status_change(&self, key: &str, obj: &ObjId) -> Option<StatusChange> {
        let (entry, id) = key.split_once('/')?;
        Some(StatusChange {
            id: id.to_string(),
            entry: entry.to_string(),
            by: self.get_str(obj, BY)?,
            device: self.get_str(obj, DEVICE_FIELD).unwrap_or_default(),
            status: self.get_str(obj, STATUS)?.parse().ok()?,
            at: self.get_i64(obj, AT)?,
            seals: self.record_seals(obj),
        })
    }

    /// The root keys of entries in this document (cheap; for collision checks).
    pub fn entry_ids(&self) -> Vec<String> {
        self.doc
            .map_range(ROOT, ENTRY.to_string()..)
            .take_while(|i| i.key.starts_with(ENTRY))
            .map(|i| i.key[ENTRY.len()..].to_string())
            .collect()
    }
}
