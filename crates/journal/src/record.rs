//! The entry record: how an entry, its replies, its status changes and a device's sealing
//! marker are written (always sealed: see [`crate::seal`]) and read back. The only way to
//! write them without a seal is raw automerge ([`SpaceDoc::automerge`]), which is what a
//! modified client does, and what tests that play one use.
//!
//! An entry's map (`entry/<id>`), every key (docs/storage.md, "The entry record"):
//! - `kind`, `body`, `status` (boundaries), `no_replies` (a boolean), `prompt` (the prompt
//!   it answers), `deleted` (a boolean: the sealed tombstone): each sealed on its own by
//!   `seal.<field>`, a seal of its value at a version;
//! - `tagset`: a map from each tag to `+<seal>` (present) or `-<seal>` (removed), so tags
//!   merge as a set and each addition or removal is sealed on its own;
//! - `author`, `device`, `created_at`, and `made` (the fields present at creation, one per
//!   line): covered by the origin seal `seal`, written once;
//! - `edited_at`: when it was last changed (shown, not sealed);
//! - `together`: only in the private notebook, a together-answer waiting (not sealed);
//! - `tags` (a list) and `auth` (`v1:`…): an entry of the first format.
//!
//! A field's version is the highest version of its seals that verify, plus one, or the
//! time of the write in milliseconds if that is larger: it only grows along the field's
//! history, and a write made after an older value was put back is newer than anything
//! before it (unless the writer's clock is behind the newest version).

use crate::JournalError;
use crate::boundaries::StatusChange;
use crate::doc::{Contents, SpaceDoc, am};
use crate::listening::{Ack, Hold};
use crate::model::{Entry, EntryPatch, Kind, NewEntry, Seals, Status};
use crate::schema::*;
use crate::seal::{Keyring, Sealer, Subject};
use automerge::{ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value, transaction::Transactable};
use std::collections::BTreeSet;
use std::collections::HashMap;

type Result<T> = std::result::Result<T, JournalError>;

/// The subject name of an entry's origin seal.
pub const ORIGIN: &str = "origin";

/// The canonical text of a stored scalar, as it is sealed: strings as they are, booleans as
/// `true`/`false`. Anything else can never match a seal (duo writes no other type there).
fn canonical(v: &Value<'_>) -> String {
    match v {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(s) => s.to_string(),
            ScalarValue::Boolean(b) => b.to_string(),
            other => format!("\u{0}{other:?}"),
        },
        Value::Object(_) => "\u{0}object".into(),
    }
}

/// Length-prefixed parts: the bytes an origin seal or a record seal covers.
fn parts(items: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for i in items {
        out.extend_from_slice(&(i.len() as u64).to_be_bytes());
        out.extend_from_slice(i);
    }
    out
}

/// What an entry's origin seal covers.
pub(crate) fn origin_value(device: &str, created_at: i64, made: &str) -> Vec<u8> {
    parts(&[device.as_bytes(), &created_at.to_be_bytes(), made.as_bytes()])
}

/// What a status change's seal covers.
pub(crate) fn status_change_value(c: &StatusChange) -> Vec<u8> {
    parts(&[c.status.as_str().as_bytes(), &c.at.to_be_bytes(), c.device.as_bytes()])
}

/// The field name a status change is sealed under.
pub(crate) fn status_change_field(c: &StatusChange) -> String {
    format!("{BSTATUS}{}", c.id)
}

/// What a reply's seal covers.
pub(crate) fn ack_value(a: &Ack) -> Vec<u8> {
    parts(&[
        a.kind.as_str().as_bytes(),
        &a.at.to_be_bytes(),
        a.device.as_bytes(),
        a.text.as_deref().unwrap_or("\u{0}").as_bytes(),
        a.of.as_deref().unwrap_or("\u{0}").as_bytes(),
    ])
}

/// The field name a reply is sealed under.
pub(crate) fn ack_field(a: &Ack) -> String {
    format!("{ACK}{}", a.id)
}

/// What a lift's seal covers (a `held/<entry>/<lift>` record).
pub(crate) fn hold_value(h: &Hold) -> Vec<u8> {
    parts(&[&h.at.to_be_bytes(), h.device.as_bytes(), h.ended.join("\n").as_bytes()])
}

/// The field name a lift is sealed under.
pub(crate) fn hold_field(h: &Hold) -> String {
    format!("{HELD}{}", h.id)
}

/// A device's marker: it began sealing, and these of its person's entries were written
/// before (stored under `sealing/<person>/<device>`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Marker {
    pub person: String,
    pub device: String,
    pub at: i64,
    /// The person's entries that were written before their devices sealed, as this device
    /// found them when it began (see [`crate::check`]).
    pub legacy: Vec<String>,
    /// Its seals (one normally).
    pub seals: Vec<String>,
}

/// The scope of a marker's seal.
pub(crate) const MARKER_SCOPE: &str = "sealing";

pub(crate) fn marker_value(at: i64, legacy: &str) -> Vec<u8> {
    parts(&[&at.to_be_bytes(), legacy.as_bytes()])
}

impl Marker {
    /// Does a seal of `keyring` (the marker's person's) cover it?
    pub fn verifies(&self, keyring: &Keyring) -> bool {
        let subject = Subject {
            scope: MARKER_SCOPE,
            author: &self.person,
            field: &self.device,
        };
        let value = marker_value(self.at, &self.legacy.join("\n"));
        self.person == keyring.person() && self.seals.iter().any(|s| keyring.verify(&subject, &value, s).is_some())
    }
}

/// The next version of a field whose current seals are `seals`: one more than the highest
/// that verifies, or `at` if larger.
fn next_version(keyring: &Keyring, subject: &Subject<'_>, values: &[String], seals: &[String], at: i64) -> u64 {
    let highest = seals
        .iter()
        .filter_map(|s| {
            values
                .iter()
                .find_map(|v| keyring.verify(subject, v.as_bytes(), s))
                .map(|(seal, _)| seal.version)
        })
        .max()
        .unwrap_or(0);
    highest.saturating_add(1).max(at.max(1) as u64)
}

impl SpaceDoc {
    pub(crate) fn entry_obj(&self, id: &str) -> Result<ObjId> {
        match self.doc.get(ROOT, entry_key(id)).map_err(am)? {
            Some((Value::Object(ObjType::Map), o)) => Ok(o),
            _ => Err(JournalError::NotFound { prefix: id.to_string() }),
        }
    }

    /// Every concurrent value of `prop` in `obj`, canonical.
    fn all_values(&self, obj: &ObjId, prop: &str) -> Vec<String> {
        self.doc
            .get_all(obj, prop)
            .unwrap_or_default()
            .iter()
            .map(|(v, _)| canonical(v))
            .collect()
    }

    /// Every concurrent string value of `prop` in `obj`.
    fn all_strings(&self, obj: &ObjId, prop: &str) -> Vec<String> {
        self.doc
            .get_all(obj, prop)
            .unwrap_or_default()
            .iter()
            .filter_map(|(v, _)| match v {
                Value::Scalar(s) => s.as_str().map(str::to_string),
                _ => None,
            })
            .collect()
    }

    /// Every concurrent `tagset` map of an entry (two devices that each made one both count).
    fn tagsets(&self, obj: &ObjId) -> Vec<ObjId> {
        self.doc
            .get_all(obj, TAGSET)
            .unwrap_or_default()
            .into_iter()
            .filter(|(v, _)| matches!(v, Value::Object(ObjType::Map)))
            .map(|(_, o)| o)
            .collect()
    }

    /// Write `value` to `field` of the entry and seal it.
    fn put_sealed(
        &mut self,
        o: &ObjId,
        id: &str,
        field: &str,
        value: ScalarValue,
        by: &Sealer<'_>,
        at: i64,
    ) -> Result<()> {
        let text = canonical(&Value::Scalar(std::borrow::Cow::Owned(value.clone())));
        let seal_key = seal_key(field);
        let subject = Subject {
            scope: id,
            author: by.person(),
            field,
        };
        let values = self.all_values(o, field);
        let seals = self.all_strings(o, &seal_key);
        let version = next_version(by.keyring(), &subject, &values, &seals, at);
        let seal = by.seal(id, field, version, text.as_bytes());
        self.put_anew(o, field, value)?;
        self.doc.put(o, seal_key.as_str(), seal.as_str()).map_err(am)?;
        Ok(())
    }

    /// Add (`+`) or remove (`-`) a tag, sealed.
    fn put_tag(&mut self, o: &ObjId, id: &str, tag: &str, present: bool, by: &Sealer<'_>, at: i64) -> Result<()> {
        let set = match self.tagsets(o).into_iter().next() {
            Some(s) => s,
            None => self.doc.put_object(o, TAGSET, ObjType::Map).map_err(am)?,
        };
        let field = tag_field(tag);
        let subject = Subject {
            scope: id,
            author: by.person(),
            field: &field,
        };
        let current = self.all_strings(&set, tag);
        let (values, seals): (Vec<String>, Vec<String>) = current
            .iter()
            .filter(|v| !v.is_empty())
            .map(|v| (v[..1].to_string(), v[1..].to_string()))
            .unzip();
        let version = next_version(by.keyring(), &subject, &values, &seals, at);
        let sign = if present { "+" } else { "-" };
        let seal = by.seal(id, &field, version, sign.as_bytes());
        self.doc.put(&set, tag, format!("{sign}{seal}")).map_err(am)?;
        Ok(())
    }

    /// The origin seal and `made`: `(id, device, created_at)` of the entry.
    fn put_origin(
        &mut self,
        o: &ObjId,
        (id, device, created_at): (&str, &str, i64),
        made: &[String],
        by: &Sealer<'_>,
        at: i64,
    ) -> Result<()> {
        let made = made.join("\n");
        let value = origin_value(device, created_at, &made);
        let subject = Subject {
            scope: id,
            author: by.person(),
            field: ORIGIN,
        };
        let seals = self.all_strings(o, SEAL);
        let version = seals
            .iter()
            .filter_map(|s| by.keyring().verify(&subject, &value, s))
            .map(|(s, _)| s.version)
            .max()
            .unwrap_or(0)
            .saturating_add(1)
            .max(at.max(1) as u64);
        self.doc.put(o, MADE, made.as_str()).map_err(am)?;
        let seal = by.seal(id, ORIGIN, version, &value);
        self.doc.put(o, SEAL, seal.as_str()).map_err(am)?;
        Ok(())
    }

    /// Add an entry under its own root key, sealed by its author. This needs no history: it
    /// can be done in an empty document and merged later without conflict.
    pub fn add_entry(&mut self, e: &NewEntry, by: &Sealer<'_>) -> Result<()> {
        if e.author != by.person() {
            return Err(JournalError::Invalid(format!(
                "entry {} is not by the person writing it: duo writes entries only under their author's own seal",
                e.id
            )));
        }
        let o = self.doc.put_object(ROOT, entry_key(&e.id), ObjType::Map).map_err(am)?;
        let at = e.created_at;
        self.doc.put(&o, AUTHOR, e.author.as_str()).map_err(am)?;
        self.doc.put(&o, DEVICE_FIELD, e.device.as_str()).map_err(am)?;
        self.doc
            .put(&o, CREATED_AT, ScalarValue::Timestamp(e.created_at))
            .map_err(am)?;
        self.doc
            .put(&o, EDITED_AT, ScalarValue::Timestamp(e.edited_at.max(e.created_at)))
            .map_err(am)?;
        let mut made = vec![KIND.to_string(), BODY.to_string()];
        self.put_sealed(&o, &e.id, KIND, e.kind.as_str().into(), by, at)?;
        self.put_sealed(&o, &e.id, BODY, e.body.as_str().into(), by, at)?;
        if e.kind == Kind::Boundary {
            let status = e.status.unwrap_or(Status::Active);
            self.put_sealed(&o, &e.id, STATUS, status.as_str().into(), by, at)?;
            made.push(STATUS.into());
        }
        if e.no_replies {
            self.put_sealed(&o, &e.id, NO_REPLIES, true.into(), by, at)?;
            made.push(NO_REPLIES.into());
        }
        if let Some(p) = &e.prompt {
            self.put_sealed(&o, &e.id, PROMPT, p.as_str().into(), by, at)?;
            made.push(PROMPT.into());
        }
        self.doc.put_object(&o, TAGSET, ObjType::Map).map_err(am)?;
        for t in &e.tags {
            self.put_tag(&o, &e.id, t, true, by, at)?;
            made.push(tag_field(t));
        }
        made.sort();
        made.dedup();
        self.put_origin(&o, (&e.id, &e.device, e.created_at), &made, by, at)
    }

    /// Add many new entries, each exactly as [`SpaceDoc::add_entry`] writes it (the same
    /// keys, values and seals), with automerge's batch insertion instead of a put per
    /// field (an import of 100k entries spent most of its time in those puts).
    ///
    /// When the entries outnumber what the document holds, they are written into a new
    /// document in one batch and this document is merged into that one (a merge of the
    /// smaller side); otherwise each entry's map is one batch of its own here. Either way
    /// the entries are changes of their own that need no history, as [`SpaceDoc::add_entry`]
    /// in an empty document makes them. An entry whose key the document already has, an id
    /// that repeats, or tags that repeat (the second write of a tag reads the first to
    /// version its seal) are written field by field afterwards, in their order, as before.
    pub fn add_entries(&mut self, entries: &[NewEntry], by: &Sealer<'_>) -> Result<()> {
        let mut batch = Vec::new();
        let mut rest = Vec::new();
        let mut ids = std::collections::HashSet::new();
        for e in entries {
            let value = Self::entry_value(e, by)?;
            let key = entry_key(&e.id);
            match value {
                Some(v) if ids.insert(e.id.as_str()) && self.doc.get(ROOT, key.as_str()).map_err(am)?.is_none() => {
                    batch.push((key, v))
                }
                _ => rest.push(e),
            }
        }
        if batch.len() >= self.doc.length(ROOT) {
            let root: HashMap<String, automerge::hydrate::Value> = batch.into_iter().collect();
            let mut fresh = automerge::AutoCommit::new();
            fresh.init_root_from_hydrate(&root.into()).map_err(am)?;
            fresh.commit();
            fresh.merge(&mut self.doc).map_err(am)?;
            self.doc = fresh;
        } else {
            for (key, value) in batch {
                self.doc.batch_create_object(ROOT, key, &value, false).map_err(am)?;
            }
        }
        for e in rest {
            self.add_entry(e, by)?;
        }
        Ok(())
    }

    /// The whole map [`SpaceDoc::add_entry`] writes for a new entry, sealed: every field is
    /// new, so each seal's version is the time of the write. `None` when a tag repeats.
    fn entry_value(e: &NewEntry, by: &Sealer<'_>) -> Result<Option<automerge::hydrate::Value>> {
        use automerge::hydrate;
        if e.author != by.person() {
            return Err(JournalError::Invalid(format!(
                "entry {} is not by the person writing it: duo writes entries only under their author's own seal",
                e.id
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        if !e.tags.iter().all(|t| seen.insert(t.as_str())) {
            return Ok(None);
        }
        let at = e.created_at;
        let version = at.max(1) as u64;
        let mut fields: Vec<(&str, ScalarValue)> = vec![(KIND, e.kind.as_str().into()), (BODY, e.body.as_str().into())];
        if e.kind == Kind::Boundary {
            fields.push((STATUS, e.status.unwrap_or(Status::Active).as_str().into()));
        }
        if e.no_replies {
            fields.push((NO_REPLIES, true.into()));
        }
        if let Some(p) = &e.prompt {
            fields.push((PROMPT, p.as_str().into()));
        }
        let seal_keys: Vec<String> = fields.iter().map(|(f, _)| seal_key(f)).collect();
        let mut map: HashMap<&str, hydrate::Value> = HashMap::new();
        map.insert(AUTHOR, hydrate::Value::scalar(e.author.as_str()));
        map.insert(DEVICE_FIELD, hydrate::Value::scalar(e.device.as_str()));
        map.insert(CREATED_AT, hydrate::Value::scalar(ScalarValue::Timestamp(e.created_at)));
        map.insert(
            EDITED_AT,
            hydrate::Value::scalar(ScalarValue::Timestamp(e.edited_at.max(e.created_at))),
        );
        let mut made: Vec<String> = fields.iter().map(|(f, _)| f.to_string()).collect();
        for ((field, value), key) in fields.into_iter().zip(&seal_keys) {
            let text = canonical(&Value::Scalar(std::borrow::Cow::Owned(value.clone())));
            let seal = by.seal(&e.id, field, version, text.as_bytes());
            map.insert(field, hydrate::Value::scalar(value));
            map.insert(key.as_str(), hydrate::Value::scalar(seal));
        }
        let mut tagset: HashMap<&str, hydrate::Value> = HashMap::new();
        for t in &e.tags {
            let seal = by.seal(&e.id, &tag_field(t), version, b"+");
            tagset.insert(t.as_str(), hydrate::Value::scalar(format!("+{seal}")));
            made.push(tag_field(t));
        }
        map.insert(TAGSET, tagset.into());
        made.sort();
        made.dedup();
        let made = made.join("\n");
        let seal = by.seal(&e.id, ORIGIN, version, &origin_value(&e.device, e.created_at, &made));
        map.insert(MADE, hydrate::Value::scalar(made.as_str()));
        map.insert(SEAL, hydrate::Value::scalar(seal));
        Ok(Some(map.into()))
    }

    /// The entry as stored and whether it carries a tombstone, refusing anyone but its
    /// author (the library cannot seal for anyone else).
    fn own_entry(&self, id: &str, by: &Sealer<'_>) -> Result<(ObjId, Entry, bool)> {
        let o = self.entry_obj(id)?;
        let (e, deleted) = self
            .read_entry_full(id, &o)
            .ok_or_else(|| JournalError::Invalid(format!("entry {id} lacks required fields")))?;
        if e.author != by.person() {
            return Err(JournalError::Invalid(format!(
                "entry {id} is not yours: only its author changes it"
            )));
        }
        Ok((o, e, deleted))
    }

    /// The entry as stored, refusing anyone but its author: only an entry's author changes
    /// it (the library cannot seal for anyone else).
    fn authors_entry(&mut self, id: &str, by: &Sealer<'_>) -> Result<(ObjId, Entry)> {
        let (o, e, deleted) = self.own_entry(id, by)?;
        if deleted {
            let subject = Subject {
                scope: id,
                author: by.person(),
                field: DELETED,
            };
            let theirs = e.seals.fields.get(DELETED).is_some_and(|f| {
                f.seals
                    .iter()
                    .any(|s| by.keyring().verify(&subject, b"true", s).is_some())
            });
            if theirs {
                return Err(JournalError::NotFound { prefix: id.to_string() });
            }
            // A tombstone the author did not write: their change of the entry lifts it.
            self.put_sealed(&o, id, DELETED, false.into(), by, e.edited_at)?;
        }
        if !e.seals.is_current_format() {
            // An entry of the first format, or from before seals: sealed as it now reads
            // (its author is the one changing it), then changed.
            self.seal_as_it_reads(&o, &e, by, e.edited_at)?;
        }
        Ok((o, e))
    }

    /// Seal every field of an entry as it reads now (a first-format entry, or one written
    /// before seals, taken over by its author).
    fn seal_as_it_reads(&mut self, o: &ObjId, e: &Entry, by: &Sealer<'_>, at: i64) -> Result<()> {
        let mut made = vec![KIND.to_string(), BODY.to_string()];
        self.put_sealed(o, &e.id, KIND, e.kind.as_str().into(), by, at)?;
        self.put_sealed(o, &e.id, BODY, e.body.as_str().into(), by, at)?;
        if let Some(s) = self
            .doc
            .get(o, STATUS)
            .ok()
            .flatten()
            .and_then(|(v, _)| v.as_str().map(str::to_string))
        {
            self.put_sealed(o, &e.id, STATUS, s.as_str().into(), by, at)?;
            made.push(STATUS.into());
        }
        if e.no_replies {
            self.put_sealed(o, &e.id, NO_REPLIES, true.into(), by, at)?;
            made.push(NO_REPLIES.into());
        }
        if let Some(p) = &e.prompt {
            self.put_sealed(o, &e.id, PROMPT, p.as_str().into(), by, at)?;
            made.push(PROMPT.into());
        }
        for t in &e.tags {
            self.put_tag(o, &e.id, t, true, by, at)?;
            made.push(tag_field(t));
        }
        made.sort();
        made.dedup();
        self.put_origin(o, (&e.id, &e.device, e.created_at), &made, by, at)
    }

    /// Change an entry, sealed. Only its author can. Setting the body replaces every
    /// concurrent version of it; tags are added and removed one by one.
    ///
    /// Lifting "no replies" also writes a sealed `held/<entry>/<lift>` record naming the
    /// `true` values it writes over (read before anything is sealed again), so replies
    /// written while they were on stay hidden ([`SpaceDoc::held_among`]). Turning it on
    /// when every value is already on writes nothing: a second `true` over the first would
    /// hide when the mark really began.
    pub fn edit_entry(&mut self, id: &str, patch: &EntryPatch, by: &Sealer<'_>) -> Result<()> {
        let values = match self.entry_obj(id) {
            Ok(o) => self.doc.get_all(&o, NO_REPLIES).unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        let on = |v: &Value<'_>| matches!(v, Value::Scalar(s) if s.as_ref() == &ScalarValue::Boolean(true));
        let all_on = !values.is_empty() && values.iter().all(|(v, _)| on(v));
        let switch_ons: Vec<String> = values
            .iter()
            .filter(|(v, _)| on(v))
            .map(|(_, op)| op.to_string())
            .collect();
        let (o, e) = self.authors_entry(id, by)?;
        let at = patch.edited_at;
        if let Some(status) = patch.status {
            if e.kind != Kind::Boundary {
                return Err(JournalError::Invalid(format!(
                    "entry {id} is not a boundary: only boundaries have a status"
                )));
            }
            self.put_sealed(&o, id, STATUS, status.as_str().into(), by, at)?;
        }
        if let Some(body) = &patch.body {
            self.put_sealed(&o, id, BODY, body.as_str().into(), by, at)?;
        }
        if let Some(tags) = &patch.tags {
            let now: BTreeSet<&String> = e.tags.iter().collect();
            let want: BTreeSet<&String> = tags.iter().collect();
            for t in want.difference(&now) {
                self.put_tag(&o, id, t, true, by, at)?;
            }
            for t in now.difference(&want) {
                self.put_tag(&o, id, t, false, by, at)?;
            }
        }
        match patch.no_replies {
            Some(true) if all_on => {}
            Some(on) => {
                if !on && !switch_ons.is_empty() {
                    self.put_hold(id, switch_ons, at, by)?;
                }
                self.put_sealed(&o, id, NO_REPLIES, on.into(), by, at)?;
            }
            None => {}
        }
        self.doc.put(&o, EDITED_AT, ScalarValue::Timestamp(at)).map_err(am)?;
        Ok(())
    }

    /// The sealed record of a lift of "no replies": `held/<entry>/<new id>`, naming the
    /// switch-on writes (`ended`, op ids) it ends.
    fn put_hold(&mut self, entry: &str, mut ended: Vec<String>, at: i64, by: &Sealer<'_>) -> Result<()> {
        ended.sort();
        let h = Hold {
            id: crate::new_id(),
            entry: entry.to_string(),
            by: by.person().to_string(),
            device: by.device().to_string(),
            at,
            ended,
            seals: Vec::new(),
        };
        let o = self.new_record(&format!("{HELD}{entry}/{}", h.id), &h.by, &h.device, at)?;
        self.doc.put(&o, ENDED, h.ended.join("\n")).map_err(am)?;
        let seal = by.seal(entry, &hold_field(&h), 1, &hold_value(&h));
        self.doc.put(&o, SEAL, seal.as_str()).map_err(am)?;
        Ok(())
    }

    /// Mark an entry "no replies — just hold this" (or lift that), sealed.
    pub fn set_no_replies(&mut self, id: &str, on: bool, at: i64, by: &Sealer<'_>) -> Result<()> {
        let patch = EntryPatch {
            no_replies: Some(on),
            edited_at: at,
            ..Default::default()
        };
        self.edit_entry(id, &patch, by)
    }

    /// Delete an entry: a sealed tombstone (`deleted`), never a removal of its key. Its
    /// text stays in the document (and in its history).
    pub fn delete_entry(&mut self, id: &str, at: i64, by: &Sealer<'_>) -> Result<()> {
        let (o, _) = self.authors_entry(id, by)?;
        self.put_sealed(&o, id, DELETED, true.into(), by, at)?;
        self.doc.put(&o, EDITED_AT, ScalarValue::Timestamp(at)).map_err(am)?;
        Ok(())
    }

    /// Bring back a deleted entry that was edited on another device at the same time as
    /// its deletion ([`SpaceDoc::restorable_among`]): a sealed `deleted = false` written
    /// over every tombstone this document holds. Only its author can, and only then: an
    /// entry deleted with nothing written to it meanwhile stays deleted.
    pub fn restore_entry(&mut self, id: &str, at: i64, by: &Sealer<'_>) -> Result<()> {
        let (o, _, deleted) = self.own_entry(id, by)?;
        if !deleted {
            return Err(JournalError::Invalid(format!(
                "entry {id} is not deleted: there is nothing to restore"
            )));
        }
        if !self.restorable_among(&[id.to_string()]).contains(id) {
            return Err(JournalError::Invalid(format!(
                "entry {id} was deleted with nothing written to it meanwhile: a deletion stays a deletion"
            )));
        }
        self.put_sealed(&o, id, DELETED, false.into(), by, at)?;
        self.doc.put(&o, EDITED_AT, ScalarValue::Timestamp(at)).map_err(am)?;
        Ok(())
    }

    /// A record's map under root key `key`, with who wrote it, on which device, and when.
    fn new_record(&mut self, key: &str, by: &str, device: &str, at: i64) -> Result<ObjId> {
        let o = self.doc.put_object(ROOT, key, ObjType::Map).map_err(am)?;
        self.doc.put(&o, BY, by).map_err(am)?;
        self.doc.put(&o, DEVICE_FIELD, device).map_err(am)?;
        self.doc.put(&o, AT, ScalarValue::Timestamp(at)).map_err(am)?;
        Ok(o)
    }

    /// Change a boundary's status: the change is kept under its own root key (the
    /// boundary's history), sealed, and the entry's `status` follows it, sealed.
    pub fn set_boundary_status(&mut self, change: &StatusChange, by: &Sealer<'_>) -> Result<()> {
        if change.by != by.person() {
            return Err(JournalError::Invalid(
                "a status change is written by its own author".into(),
            ));
        }
        let (o, e) = self.authors_entry(&change.entry, by)?;
        if e.kind != Kind::Boundary {
            return Err(JournalError::Invalid(format!(
                "entry {} is not a boundary: only boundaries have a status",
                change.entry
            )));
        }
        let key = format!("{BSTATUS}{}/{}", change.entry, change.id);
        let c = self.new_record(&key, &change.by, &change.device, change.at)?;
        self.doc.put(&c, STATUS, change.status.as_str()).map_err(am)?;
        let seal = by.seal(
            &change.entry,
            &status_change_field(change),
            1,
            &status_change_value(change),
        );
        self.doc.put(&c, SEAL, seal.as_str()).map_err(am)?;
        self.put_sealed(&o, &change.entry, STATUS, change.status.as_str().into(), by, change.at)?;
        self.doc
            .put(&o, EDITED_AT, ScalarValue::Timestamp(change.at))
            .map_err(am)?;
        Ok(())
    }

    /// Record an acknowledgement, reflection or answer under its own root key, sealed by
    /// the person who sends it. Like [`SpaceDoc::add_entry`], this needs no history.
    pub fn put_ack(&mut self, a: &Ack, by: &Sealer<'_>) -> Result<()> {
        if a.by != by.person() {
            return Err(JournalError::Invalid("a reply is written by its own sender".into()));
        }
        let o = self.new_record(&format!("{ACK}{}/{}", a.entry, a.id), &a.by, &a.device, a.at)?;
        self.doc.put(&o, KIND, a.kind.as_str()).map_err(am)?;
        if let Some(text) = &a.text {
            self.doc.put(&o, TEXT, text.as_str()).map_err(am)?;
        }
        if let Some(of) = &a.of {
            self.doc.put(&o, OF, of.as_str()).map_err(am)?;
        }
        let seal = by.seal(&a.entry, &ack_field(a), 1, &ack_value(a));
        self.doc.put(&o, SEAL, seal.as_str()).map_err(am)?;
        Ok(())
    }

    /// This device begins sealing: if it has no valid marker yet, seal again, in the
    /// current format, its person's first-format entries that its keyring confirms, and
    /// write its marker, listing the person's entries without any seal that were written
    /// before (all of them if no device of the person began before; otherwise only those
    /// the entries themselves say this device wrote). Returns whether it wrote anything.
    pub fn begin_sealing(&mut self, by: &Sealer<'_>, at: i64) -> Result<bool> {
        let c = self.contents();
        let ring = by.keyring();
        let me = by.person();
        let valid = |m: &&Marker| m.person == me && m.verifies(ring);
        if c.markers.values().filter(valid).any(|m| m.device == by.device()) {
            return Ok(false);
        }
        let first = !c.markers.values().any(|m| valid(&m));
        let mine: Vec<&Entry> = c
            .entries
            .values()
            .chain(c.deleted.values())
            .filter(|e| e.author == me)
            .collect();
        let mut legacy = Vec::new();
        for e in &mine {
            if e.seals.is_current_format() {
                continue;
            }
            if e.auth.is_empty() {
                if first || e.device == by.device() {
                    legacy.push(e.id.clone());
                }
            } else if e
                .auth
                .iter()
                .any(|a| crate::seal::legacy_v1_verifies(ring, e, a).is_some())
            {
                let o = self.entry_obj(&e.id)?;
                self.seal_as_it_reads(&o, e, by, at)?;
            }
        }
        legacy.sort();
        let legacy = legacy.join("\n");
        let o = self
            .doc
            .put_object(ROOT, format!("{SEALING}{me}/{}", by.device()), ObjType::Map)
            .map_err(am)?;
        self.doc.put(&o, AT, ScalarValue::Timestamp(at)).map_err(am)?;
        self.doc.put(&o, LEGACY, legacy.as_str()).map_err(am)?;
        let seal = by.seal(MARKER_SCOPE, by.device(), 1, &marker_value(at, &legacy));
        self.doc.put(&o, SEAL, seal.as_str()).map_err(am)?;
        if self.schema() < crate::SCHEMA_VERSION {
            self.doc.put(ROOT, SCHEMA, crate::SCHEMA_VERSION).map_err(am)?;
        }
        Ok(true)
    }

    /// Attribute everything of person `old` to the person `by` writes for (a device that
    /// joins as one of its owner's devices brings entries written under its own first
    /// name). Entries that `old_ring` (the old person's keys) confirms are sealed again
    /// with the new person's key; the others keep no seal of theirs.
    pub fn reassign_person(&mut self, old: &str, old_ring: &Keyring, by: &Sealer<'_>, at: i64) -> Result<()> {
        let new = by.person();
        if old == new {
            return Ok(());
        }
        let c = self.contents();
        let no_marks = crate::check::Marks::default();
        let judge = crate::check::Judge::new(old_ring, &no_marks);
        let view = crate::View::new(c.clone(), Default::default());
        for e in c.entries.values().chain(c.deleted.values()).filter(|e| e.author == old) {
            let confirmed = judge.check(&view, e) == Some(crate::Authenticity::Authentic);
            let o = self.entry_obj(&e.id)?;
            self.doc.put(&o, AUTHOR, new).map_err(am)?;
            if confirmed {
                let mut moved = e.clone();
                moved.author = new.to_string();
                self.seal_as_it_reads(&o, &moved, by, at)?;
                if view.deleted.contains_key(&e.id) {
                    self.put_sealed(&o, &e.id, DELETED, true.into(), by, at)?;
                }
            }
        }
        let items: Vec<(String, ObjId)> = self
            .doc
            .map_range(ROOT, ..)
            .filter(|i| i.key.starts_with(DEVICE))
            .map(|i| (i.key.to_string(), i.id()))
            .collect();
        for (_, obj) in items {
            if self.get_str(&obj, PERSON_FIELD).as_deref() == Some(old) {
                self.doc.put(&obj, PERSON_FIELD, new).map_err(am)?;
            }
        }
        let old_key = format!("{PERSON}{old}");
        if self.doc.get(ROOT, old_key.as_str()).map_err(am)?.is_some() {
            self.doc.delete(ROOT, old_key.as_str()).map_err(am)?;
        }
        Ok(())
    }

    /// After a rotation of the person's key: seal again, with the current key, the entries
    /// this device wrote whose seals are only those of a retired key made without knowing
    /// of the rotation (shown as unconfirmed until then). Only what its keys confirm is
    /// sealed again; an entry sealed after the rotation with a retired key is not (it is
    /// not this device's). Returns how many were sealed again.
    pub fn reseal_after_rotation(&mut self, by: &Sealer<'_>, at: i64) -> Result<usize> {
        let c = self.contents_with_history(None);
        let view = crate::View::new(c.clone(), Default::default());
        let marks = crate::check::Marks::default();
        let judge = crate::check::Judge::new(by.keyring(), &marks);
        let current = by.keyring().current().id();
        let retired = |e: &Entry| {
            e.seals
                .origin
                .iter()
                .chain(e.seals.fields.values().flat_map(|f| f.seals.iter()))
                .any(|s| crate::seal::Seal::parse(s).is_some_and(|s| s.key != current))
        };
        let mut n = 0;
        for e in c.entries.values().chain(c.deleted.values()) {
            if e.author != by.person() || e.device != by.device() || !retired(e) {
                continue;
            }
            if judge.check(&view, e) != Some(crate::Authenticity::Unsettled) {
                continue;
            }
            let o = self.entry_obj(&e.id)?;
            self.seal_as_it_reads(&o, e, by, at)?;
            if view.deleted.contains_key(&e.id) {
                self.put_sealed(&o, &e.id, DELETED, true.into(), by, at)?;
            }
            n += 1;
        }
        Ok(n)
    }

    /// Read one entry's map. `None` when a required field is missing (a foreign or damaged
    /// replica wrote it): left out rather than guessed at. The second value says whether
    /// it carries a tombstone.
    pub(crate) fn read_entry_full(&self, id: &str, obj: &ObjId) -> Option<(Entry, bool)> {
        use automerge::{ScalarValueRef as S, ValueRef as V};
        // One pass over the entry's fields (a lookup per field costs a seek each; at 10k
        // entries reading them one by one took most of a full read).
        let (mut kind, mut body, mut author, mut device, mut status, mut prompt) = (None, None, None, None, None, None);
        let (mut created_at, mut edited_at, mut tags_v1, mut has_tagset) = (None, None, None, false);
        let mut body_conflict = false;
        let mut body_values = Vec::new();
        let mut seals = Seals::default();
        let mut auth = Vec::new();
        for item in self.doc.map_range(obj, ..) {
            let key = item.key.as_ref();
            let int = |v: &V<'_>| match v {
                V::Scalar(S::Int(n) | S::Counter(n) | S::Timestamp(n)) => Some(*n),
                V::Scalar(S::Uint(n)) => Some(*n as i64),
                V::Scalar(S::F64(n)) => Some(*n as i64),
                _ => None,
            };
            let text = |v: &V<'_>| match v {
                V::Scalar(S::Str(s)) => Some(s.to_string()),
                _ => None,
            };
            // Every concurrent string value (no extra lookup unless there are several).
            let strings = |conflict: bool, v: &V<'_>| {
                if conflict {
                    self.all_strings(obj, key)
                } else {
                    text(v).into_iter().collect()
                }
            };
            let every = |conflict: bool, v: &V<'_>| {
                if conflict {
                    self.all_values(obj, key)
                } else {
                    vec![match v {
                        V::Scalar(S::Str(s)) => s.to_string(),
                        V::Scalar(S::Boolean(b)) => b.to_string(),
                        _ => "\u{0}other".into(),
                    }]
                }
            };
            match key {
                KIND => kind = text(&item.value),
                BODY => {
                    body = text(&item.value);
                    body_conflict = item.conflict;
                }
                AUTHOR => author = text(&item.value),
                DEVICE_FIELD => device = text(&item.value),
                STATUS => status = text(&item.value),
                PROMPT => prompt = text(&item.value),
                CREATED_AT => created_at = int(&item.value),
                EDITED_AT => edited_at = int(&item.value),
                TAGS_V1 if matches!(item.value, V::Object(ObjType::List)) => tags_v1 = Some(item.id()),
                TAGSET => has_tagset = true,
                AUTH_V1 => auth = strings(item.conflict, &item.value),
                SEAL => seals.origin = strings(item.conflict, &item.value),
                MADE => seals.made = strings(item.conflict, &item.value),
                _ => {}
            }
            if key == BODY {
                // The body's values are the entry's `body` and `conflicts`: not kept twice.
                seals.fields.entry(key.to_string()).or_default();
                if item.conflict {
                    body_values = every(true, &item.value);
                }
            } else if SEALED_FIELDS.contains(&key) {
                seals.fields.entry(key.to_string()).or_default().values = every(item.conflict, &item.value);
            } else if let Some(field) = key.strip_prefix(SEAL_OF)
                && SEALED_FIELDS.contains(&field)
            {
                seals.fields.entry(field.to_string()).or_default().seals = strings(item.conflict, &item.value);
            }
        }
        let kind: Kind = kind?.parse().ok()?;
        let body = body?;
        let conflicts = if body_conflict {
            body_values.iter().filter(|v| **v != body).cloned().collect()
        } else {
            Vec::new()
        };
        let created_at = created_at?;
        let mut tags = Vec::new();
        if has_tagset {
            for set in self.tagsets(obj) {
                for item in self.doc.map_range(&set, ..) {
                    let tag = item.key.to_string();
                    let values = match (&item.value, item.conflict) {
                        (V::Scalar(S::Str(v)), false) => vec![v.to_string()],
                        _ => self.all_strings(&set, &tag),
                    };
                    let field = seals.fields.entry(tag_field(&tag)).or_default();
                    for v in &values {
                        let sign = v.get(..1).unwrap_or("");
                        field.values.push(sign.to_string());
                        field.seals.push(v.get(1..).unwrap_or("").to_string());
                    }
                    if values.iter().any(|v| v.starts_with('+')) && !tags.contains(&tag) {
                        tags.push(tag);
                    }
                }
            }
            tags.sort();
        } else if let Some(list) = tags_v1 {
            tags = self
                .doc
                .list_range(&list, ..)
                .filter_map(|i| match i.value {
                    V::Scalar(S::Str(s)) => Some(s.to_string()),
                    _ => None,
                })
                .collect();
        }
        let status = if kind == Kind::Boundary {
            Some(status.and_then(|s| s.parse().ok()).unwrap_or(Status::Active))
        } else {
            None
        };
        let on = |f: &str| {
            seals
                .fields
                .get(f)
                .is_some_and(|s| s.values.iter().any(|v| v == "true"))
        };
        let (no_replies, deleted) = (on(NO_REPLIES), on(DELETED));
        Some((
            Entry {
                id: id.to_string(),
                kind,
                author: author?,
                device: device.unwrap_or_default(),
                created_at,
                edited_at: edited_at.unwrap_or(created_at),
                body,
                tags,
                status,
                conflicts,
                no_replies,
                auth,
                prompt,
                seals,
            },
            deleted,
        ))
    }

    /// Read a marker `sealing/<person>/<device>`.
    pub(crate) fn read_marker(&self, key: &str, obj: &ObjId) -> Option<Marker> {
        let (person, device) = key.split_once('/')?;
        let legacy = self.get_str(obj, LEGACY).unwrap_or_default();
        Some(Marker {
            person: person.to_string(),
            device: device.to_string(),
            at: self.get_i64(obj, AT)?,
            legacy: legacy
                .split('\n')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            seals: self.all_strings(obj, SEAL),
        })
    }

    /// Every concurrent seal of a record's map.
    pub(crate) fn record_seals(&self, obj: &ObjId) -> Vec<String> {
        self.all_strings(obj, SEAL)
    }
}

/// Put a read entry into `c`: the entries shown, or, with a tombstone, the deleted ones.
pub(crate) fn insert_entry(c: &mut Contents, (e, deleted): (Entry, bool)) {
    if deleted {
        c.deleted.insert(e.id.clone(), e);
    } else {
        c.entries.insert(e.id.clone(), e);
    }
}
