//! The names of the shared space: every root key prefix and every field name, defined once.
//! Every crate (and every test that writes raw automerge to play an attacker) uses these;
//! docs/storage.md ("The entry record", "Root keys") describes them.
//!
//! Design rule: anything more than one replica could create gets its own root key; a nested
//! map or list is only ever created together with its uniquely keyed parent.

// Root keys.

/// The document schema version (an integer; the highest any replica wrote counts).
pub const SCHEMA: &str = "schema";
/// The space's id.
pub const SPACE: &str = "space";
/// `entry/<entry id>`: an entry's map (see the field names below).
pub const ENTRY: &str = "entry/";
/// `person/<person id>`: `{name}`.
pub const PERSON: &str = "person/";
/// `device/<device id>`: `{person, label, added_at}`.
pub const DEVICE: &str = "device/";
/// `endorse/<device>/<by>`: `{sig, at}`, a signed endorsement.
pub const ENDORSE: &str = "endorse/";
/// `revoke/<device>/<by>`: `{sig, at}`, a signed revocation.
pub const REVOKE: &str = "revoke/";
/// `name/<person>/<by>`: `{name, sig, at}`, a person's name as one of their devices signed it.
pub const NAMES: &str = "name/";
/// `rotate/<person>/<key id>`: `{by, retires, at, sig, key:<device>…}`, a new person key
/// after a revocation, age-encrypted to each remaining device of the person (one bytes field
/// per device), signed by the device that made it.
pub const ROTATE: &str = "rotate/";
/// The field of a rotation holding the new key encrypted to `<device>`: `key:<device>`.
pub const KEY_FOR: &str = "key:";
/// The key id a rotation retires.
pub const RETIRES: &str = "retires";
/// `ack/<entry id>/<ack id>`: a reply `{by, device, kind, at, text?, of?, seal}`.
pub const ACK: &str = "ack/";
/// `held/<entry id>/<lift id>`: a lift of "no replies" `{by, device, at, ended, seal}`:
/// `ended` names (op ids, one per line) the `true` values of `no_replies` the lift wrote
/// over; replies written while those were on stay hidden for good
/// ([`crate::SpaceDoc::held_among`]).
pub const HELD: &str = "held/";
/// A lift's list of the switch-on writes it ended.
pub const ENDED: &str = "ended";
/// `bstatus/<entry id>/<change id>`: a boundary status change `{by, device, status, at, seal}`.
pub const BSTATUS: &str = "bstatus/";
/// `sealing/<person>/<device>`: the sealed marker a device writes when it begins sealing
/// `{at, legacy, seal}` (see [`crate::check`]).
pub const SEALING: &str = "sealing/";
/// `depth/<person>`: a person's comfort depth.
pub const DEPTH: &str = "depth/";
/// `pause/<theme>/<person>`: a theme paused by that person (a timestamp).
pub const PAUSE: &str = "pause/";
/// `asked/<prompt>/<person>`: a prompt asked of both by that person (a timestamp).
pub const ASKED: &str = "asked/";
/// `together/<prompt>/<person>`: "has answered", with no content (a timestamp).
pub const TOGETHER: &str = "together/";
/// `checkin/<id>`: `{by, at}`, a check-in that happened.
pub const CHECKIN: &str = "checkin/";
/// `served/<prompt>` (private notebook only): offered on this device.
pub const SERVED: &str = "served/";
/// `passed/<prompt>` (private notebook only): passed on this device.
pub const PASSED: &str = "passed/";

// Fields of an entry's map.

pub const KIND: &str = "kind";
pub const AUTHOR: &str = "author";
/// The device an entry was written on (or a reply, a status change).
pub const DEVICE_FIELD: &str = "device";
pub const CREATED_AT: &str = "created_at";
pub const EDITED_AT: &str = "edited_at";
pub const BODY: &str = "body";
/// The tags of an entry: a map from tag to `+<seal>` (present) or `-<seal>` (removed).
pub const TAGSET: &str = "tagset";
/// The tags of an entry of the first format: a list of strings.
pub const TAGS_V1: &str = "tags";
pub const STATUS: &str = "status";
pub const NO_REPLIES: &str = "no_replies";
/// The prompt an entry answers (its id).
pub const PROMPT: &str = "prompt";
/// A sealed tombstone: `true` once the author deleted the entry.
pub const DELETED: &str = "deleted";
/// A together-answer waiting in the private notebook (`"pending"`); never in the space.
pub const TOGETHER_FIELD: &str = "together";
/// The fields present when the entry was written, one per line (covered by its origin seal).
pub const MADE: &str = "made";
/// The origin seal: author, device, creation time and `made`.
pub const SEAL: &str = "seal";
/// A first-format authenticator (`v1:`…), covering the whole entry at once.
pub const AUTH_V1: &str = "auth";
/// The prefix of a field's seal: `seal.body` seals `body`.
pub const SEAL_OF: &str = "seal.";

/// The sealed fields of an entry besides its tags, in a fixed order.
pub const SEALED_FIELDS: [&str; 6] = [KIND, BODY, STATUS, NO_REPLIES, PROMPT, DELETED];

/// The field name a tag is sealed under: `tag:<tag>`.
pub const TAG_FIELD: &str = "tag:";

// Fields of records.

pub const NAME: &str = "name";
pub const PERSON_FIELD: &str = "person";
pub const LABEL: &str = "label";
pub const ADDED_AT: &str = "added_at";
pub const SIG: &str = "sig";
pub const AT: &str = "at";
pub const BY: &str = "by";
pub const TEXT: &str = "text";
pub const OF: &str = "of";
/// A sealing marker's list of entries written before sealing (ids, one per line).
pub const LEGACY: &str = "legacy";

/// `entry/<id>`.
pub fn entry_key(id: &str) -> String {
    format!("{ENTRY}{id}")
}

/// `seal.<field>`.
pub fn seal_key(field: &str) -> String {
    format!("{SEAL_OF}{field}")
}

/// `tag:<tag>`.
pub fn tag_field(tag: &str) -> String {
    format!("{TAG_FIELD}{tag}")
}
