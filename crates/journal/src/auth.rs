//! Entry authenticators: "your words can't be altered unnoticed".
//!
//! Every entry write or edit stores `auth` = HMAC-SHA256 under a per-person key (32 random
//! bytes shared only among that person's own devices, never in the document) over a
//! canonical encoding of the fields the author controls. The author's devices check it on
//! read; a partner's devices cannot (they do not hold the key), and a MAC is no
//! transferable proof: whoever can check it could have made it. That is deliberate
//! (deniability). No I/O here: the key is handed in by the caller.

use crate::model::Entry;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of an authenticator value: its format.
pub const AUTH_V1: &str = "v1:";

/// What an author's device can say about one of the author's own entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Authenticity {
    /// An authenticator made with this person's key covers exactly what is shown.
    Authentic,
    /// No authenticator at all: written before authenticators existed (or by a device that
    /// did not have the key). Neither confirmed nor refuted.
    Unsealed,
    /// Edited on two devices at once and not settled yet: several authenticators and
    /// versions coexist, so what is shown cannot be confirmed until the author edits it.
    Unsettled,
    /// Claims this person as author but no authenticator of theirs covers it: altered or
    /// invented on another device.
    NotYours,
}

impl Authenticity {
    /// Stable name for JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Authenticity::Authentic => "authentic",
            Authenticity::Unsealed => "unsealed",
            Authenticity::Unsettled => "unsettled",
            Authenticity::NotYours => "not_yours",
        }
    }
}

fn field(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The canonical encoding of the authored fields of an entry: a domain string, then each
/// field as (tag, u64 length, bytes) in a fixed order. Concurrent versions (`conflicts`)
/// and the authenticator itself are not covered.
pub fn canonical(e: &Entry) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + e.body.len());
    out.extend_from_slice(b"duo/entry-auth/1\0");
    field(&mut out, 1, e.id.as_bytes());
    field(&mut out, 2, e.kind.as_str().as_bytes());
    field(&mut out, 3, e.author.as_bytes());
    field(&mut out, 4, e.device.as_bytes());
    field(&mut out, 5, &e.created_at.to_be_bytes());
    field(&mut out, 6, &e.edited_at.to_be_bytes());
    field(&mut out, 7, e.body.as_bytes());
    field(&mut out, 8, &(e.tags.len() as u64).to_be_bytes());
    for t in &e.tags {
        field(&mut out, 9, t.as_bytes());
    }
    field(&mut out, 10, e.status.map(|s| s.as_str()).unwrap_or("").as_bytes());
    out
}

fn mac(key: &[u8; 32], e: &Entry) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(&canonical(e));
    m
}

/// The authenticator of an entry as it is now: `v1:` + hex of the HMAC.
pub fn seal(key: &[u8; 32], e: &Entry) -> String {
    format!("{AUTH_V1}{}", crate::hex(&mac(key, e).finalize().into_bytes()))
}

/// Does `auth` authenticate `e` under `key`? Constant-time comparison.
pub fn verifies(key: &[u8; 32], e: &Entry, auth: &str) -> bool {
    let Some(hex) = auth.strip_prefix(AUTH_V1) else {
        return false;
    };
    let Some(tag) = unhex32(hex) else {
        return false;
    };
    mac(key, e).verify_slice(&tag).is_ok()
}

/// Check an entry claimed by the holder of `key` (call only for the holder's own entries:
/// another person's authenticators cannot be checked, by design).
pub fn check(key: &[u8; 32], e: &Entry) -> Authenticity {
    if e.auth.is_empty() {
        Authenticity::Unsealed
    } else if e.auth.iter().any(|a| verifies(key, e, a)) {
        Authenticity::Authentic
    } else if e.auth.len() > 1 {
        Authenticity::Unsettled
    } else {
        Authenticity::NotYours
    }
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EntryPatch, Kind, NewEntry, SpaceDoc};

    const ALICE: [u8; 32] = [7; 32];

    fn doc_with_entry(key: Option<&[u8; 32]>) -> (SpaceDoc, String) {
        let mut doc = SpaceDoc::new();
        doc.init_schema().unwrap();
        let id = crate::new_id();
        doc.add_entry(&NewEntry {
            id: id.clone(),
            kind: Kind::Boundary,
            author: "alice".into(),
            device: "laptop".into(),
            created_at: 10,
            edited_at: 10,
            body: "I need an hour alone after work".into(),
            tags: vec!["evenings".into()],
            status: None,
        })
        .unwrap();
        if let Some(k) = key {
            doc.seal_entry(&id, k).unwrap();
        }
        (doc, id)
    }

    fn entry(doc: &SpaceDoc, id: &str) -> Entry {
        doc.contents().entries[id].clone()
    }

    fn edit(doc: &mut SpaceDoc, id: &str, body: &str, at: i64, key: Option<&[u8; 32]>) {
        let patch = EntryPatch {
            body: Some(body.into()),
            edited_at: at,
            ..Default::default()
        };
        doc.edit_entry(id, &patch).unwrap();
        if let Some(k) = key {
            doc.seal_entry(id, k).unwrap();
        }
    }

    #[test]
    fn sealed_entries_check_and_every_authored_field_is_covered() {
        let (mut doc, id) = doc_with_entry(Some(&ALICE));
        let e = entry(&doc, &id);
        assert_eq!(check(&ALICE, &e), Authenticity::Authentic);
        assert_eq!(
            check(&[8; 32], &e),
            Authenticity::NotYours,
            "another key does not verify"
        );
        // Each authored field, changed alone, breaks the authenticator.
        let mut variants = Vec::new();
        for f in 0..8 {
            let mut v = e.clone();
            match f {
                0 => v.body.push('!'),
                1 => v.tags.push("x".into()),
                2 => v.status = Some(crate::Status::Retired),
                3 => v.edited_at += 1,
                4 => v.created_at += 1,
                5 => v.device = "phone".into(),
                6 => v.kind = Kind::Reflection,
                _ => v.author = "bob".into(),
            }
            variants.push(v);
        }
        for v in variants {
            assert_eq!(check(&ALICE, &v), Authenticity::NotYours, "{v:?}");
        }
        // A legitimate, sealed edit stays authentic.
        edit(
            &mut doc,
            &id,
            "I need an hour alone after work, most days",
            20,
            Some(&ALICE),
        );
        assert_eq!(check(&ALICE, &entry(&doc, &id)), Authenticity::Authentic);
        assert_eq!(entry(&doc, &id).auth.len(), 1);
    }

    #[test]
    fn unsealed_edits_and_old_entries() {
        let (doc, id) = doc_with_entry(None);
        assert_eq!(check(&ALICE, &entry(&doc, &id)), Authenticity::Unsealed);
        let (mut doc, id) = doc_with_entry(Some(&ALICE));
        // A modified client edits without the key: the old authenticator no longer fits.
        edit(&mut doc, &id, "I never need time alone", 20, None);
        assert_eq!(check(&ALICE, &entry(&doc, &id)), Authenticity::NotYours);
        // A forged authenticator of the wrong shape changes nothing.
        assert!(!verifies(&ALICE, &entry(&doc, &id), "v1:zz"));
        assert!(!verifies(&ALICE, &entry(&doc, &id), "v2:00"));
    }

    #[test]
    fn concurrent_edits_by_the_author_are_unsettled_until_edited_and_a_partners_are_not_yours() {
        let (mut a, id) = doc_with_entry(Some(&ALICE));
        let mut b = SpaceDoc::load(&a.save()).unwrap();
        // The author's two devices edit at once: two authenticators, two versions.
        edit(&mut a, &id, "version from the laptop", 20, Some(&ALICE));
        edit(&mut b, &id, "version from the phone", 21, Some(&ALICE));
        let mut merged = SpaceDoc::load(&a.save()).unwrap();
        merged.merge(&mut b).unwrap();
        let e = entry(&merged, &id);
        assert_eq!(e.auth.len(), 2);
        assert_ne!(check(&ALICE, &e), Authenticity::NotYours);
        edit(&mut merged, &id, "settled", 30, Some(&ALICE));
        assert_eq!(check(&ALICE, &entry(&merged, &id)), Authenticity::Authentic);

        // The partner edits the body concurrently without the key: one authenticator only,
        // so whichever body is shown, a forged one is caught.
        let (mut a, id) = doc_with_entry(Some(&ALICE));
        let mut partner = SpaceDoc::load(&a.save()).unwrap();
        edit(&mut a, &id, "the author's own words", 20, Some(&ALICE));
        edit(&mut partner, &id, "words put in the author's mouth", 20, None);
        let mut merged = SpaceDoc::load(&a.save()).unwrap();
        merged.merge(&mut partner).unwrap();
        let e = entry(&merged, &id);
        let expect = if e.body == "the author's own words" {
            Authenticity::Authentic
        } else {
            Authenticity::NotYours
        };
        assert_eq!(check(&ALICE, &e), expect, "{e:?}");
    }
}
