//! Writing the records of a space other than entries: the space itself, people,
//! devices, signed endorsements, revocations, names and rotations.

use super::*;

impl SpaceDoc {
    /// Put back this device's own person and device (and a schema and space id) if the
    /// document lost them, e.g. after a damaged snapshot was set aside. Returns whether
    /// anything was missing.
    pub fn restore_identity(&mut self, person: &Person, device: &Device) -> Result<bool> {
        let c = self.contents();
        let mut changed = false;
        if c.schema == 0 {
            self.init_schema()?;
            changed = true;
        }
        if c.space_id.is_none() {
            self.doc.put(ROOT, SPACE, crate::new_id().as_str()).map_err(am)?;
            changed = true;
        }
        if !c.persons.contains_key(&person.id) {
            self.put_person(person)?;
            changed = true;
        }
        if !c.devices.contains_key(&device.id) {
            self.put_device(device)?;
            changed = true;
        }
        Ok(changed)
    }

    /// Write what a new space starts with: the schema version, its id, its first person and device.
    pub fn init(&mut self, space_id: &str, person: &Person, device: &Device) -> Result<()> {
        self.doc.put(ROOT, SCHEMA, SCHEMA_VERSION).map_err(am)?;
        self.doc.put(ROOT, SPACE, space_id).map_err(am)?;
        self.put_person(person)?;
        self.put_device(device)?;
        Ok(())
    }

    /// Write the schema version only (a private notebook has no people).
    pub fn init_schema(&mut self) -> Result<()> {
        self.doc.put(ROOT, SCHEMA, SCHEMA_VERSION).map_err(am)?;
        Ok(())
    }

    pub(super) fn put_person(&mut self, p: &Person) -> Result<()> {
        let o = self
            .doc
            .put_object(ROOT, format!("{PERSON}{}", p.id), ObjType::Map)
            .map_err(am)?;
        self.doc.put(&o, NAME, p.name.as_str()).map_err(am)?;
        Ok(())
    }

    pub(super) fn put_device(&mut self, d: &Device) -> Result<()> {
        let o = self
            .doc
            .put_object(ROOT, format!("{DEVICE}{}", d.id), ObjType::Map)
            .map_err(am)?;
        self.doc.put(&o, PERSON_FIELD, d.person.as_str()).map_err(am)?;
        self.doc.put(&o, LABEL, d.label.as_str()).map_err(am)?;
        self.doc
            .put(&o, ADDED_AT, ScalarValue::Timestamp(d.added_at))
            .map_err(am)?;
        Ok(())
    }

    /// Record a person (if new) and one of their devices (pairing).
    pub fn add_member(&mut self, person: &Person, device: &Device) -> Result<()> {
        if !self.contents().persons.contains_key(&person.id) {
            self.put_person(person)?;
        }
        self.put_device(device)
    }

    /// Take `id` as this space's id (a device joining another's space, before anything of
    /// its own reaches it): written over every value this document holds, so that once
    /// merged every value anyone wrote is the same. Returns whether anything changed.
    pub fn adopt_space_id(&mut self, id: &str) -> Result<bool> {
        if self.space_ids() == [id.to_string()] {
            return Ok(false);
        }
        self.doc.put(ROOT, SPACE, id).map_err(am)?;
        Ok(true)
    }

    /// Record a signed endorsement of a device (under its own root key `endorse/<device>/<by>`).
    pub fn put_endorsement(&mut self, e: &Endorsement) -> Result<()> {
        self.put_signed(ENDORSE, &e.device, &e.by, &e.sig, e.at)
    }

    /// Record a signed revocation (under its own root key `revoke/<device>/<by>`).
    pub fn put_revocation(&mut self, r: &Revocation) -> Result<()> {
        self.put_signed(REVOKE, &r.device, &r.by, &r.sig, r.at)
    }

    /// Record a person's name as one of their devices signed it (under its own root key
    /// `name/<person>/<by>`), and show it as the person's name.
    pub fn put_name(&mut self, n: &SignedName) -> Result<()> {
        let o = self.record_map(NAMES, &n.person, &n.by)?;
        self.doc.put(&o, NAME, n.name.as_str()).map_err(am)?;
        self.doc.put(&o, SIG, n.sig.as_str()).map_err(am)?;
        self.doc.put(&o, AT, ScalarValue::Timestamp(n.at)).map_err(am)?;
        let current = self.doc.get(ROOT, format!("{PERSON}{}", n.person)).map_err(am)?;
        let name_now = match &current {
            Some((Value::Object(ObjType::Map), p)) => self.get_str(p, NAME),
            _ => None,
        };
        if name_now.as_deref() != Some(n.name.as_str()) {
            self.put_person(&Person {
                id: n.person.clone(),
                name: n.name.clone(),
            })?;
        }
        Ok(())
    }

    /// Record a person-key rotation (under its own root key `rotate/<person>/<key>`).
    pub fn put_rotation(&mut self, r: &Rotation) -> Result<()> {
        let o = self.record_map(ROTATE, &r.person, &r.key)?;
        self.doc.put(&o, BY, r.by.as_str()).map_err(am)?;
        self.doc.put(&o, RETIRES, r.retires.as_str()).map_err(am)?;
        self.doc.put(&o, AT, ScalarValue::Timestamp(r.at)).map_err(am)?;
        self.doc.put(&o, SIG, r.sig.as_str()).map_err(am)?;
        for (device, blob) in &r.keys {
            self.doc
                .put(&o, format!("{KEY_FOR}{device}"), ScalarValue::Bytes(blob.clone()))
                .map_err(am)?;
        }
        Ok(())
    }

    /// A new map for a record under `<prefix><a>/<b>` (each part non-empty, without `/`):
    /// a record is the map and the fields written with it in one change (see
    /// [`crate::history`]).
    pub(super) fn record_map(&mut self, prefix: &str, a: &str, b: &str) -> Result<ObjId> {
        let bad = |s: &str| s.is_empty() || s.contains('/');
        if bad(a) || bad(b) {
            return Err(JournalError::Invalid(format!(
                "'{a}/{b}' is not a key of a {prefix} record"
            )));
        }
        self.doc
            .put_object(ROOT, format!("{prefix}{a}/{b}"), ObjType::Map)
            .map_err(am)
    }

    pub(super) fn put_signed(&mut self, prefix: &str, device: &str, by: &str, sig: &str, at: i64) -> Result<()> {
        let o = self.record_map(prefix, device, by)?;
        self.doc.put(&o, SIG, sig).map_err(am)?;
        self.doc.put(&o, AT, ScalarValue::Timestamp(at)).map_err(am)?;
        Ok(())
    }

    /// Record a device under a person without touching the person (tests of forged records
    /// and re-recording use it; pairing uses [`SpaceDoc::add_member`]).
    pub fn put_device_record(&mut self, d: &Device) -> Result<()> {
        self.put_device(d)
    }
}
