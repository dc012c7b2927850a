//! What a peer's sync frames may hold, read and bounded before anything decodes them.
//!
//! Decoders allocate as they go: postcard builds a `Vec<Vec<u8>>` of 24 bytes per empty
//! element of one byte, and automerge 0.12 decodes a sync message into vectors of hashes,
//! Bloom filters and change chunks, then trusts the filter's parameters: a filter that
//! asks for 4,294,967,295 probes made it reserve 16 GiB at the next message it generated,
//! an abort that no `catch_unwind` can stop. So every count and parameter in a frame is
//! read here first, from the bytes alone, and refused past the limits below; only then is
//! the frame decoded. What the change chunks inside describe is bounded next, by
//! [`duo_journal::chunks::check_counted`].

/// Most hashes in one list: heads, needs and last-sync hashes of a sync message; heads,
/// kept heads and sample of a hello.
pub const MAX_HASHES: usize = 4096;
/// Most change chunks in one frame (a hello, a catch-up, a sync message).
pub const MAX_CHANGES: usize = 1 << 17;
/// Most "have" summaries in one sync message (automerge sends at most one).
pub const MAX_HAVES: usize = 1;
/// Most hash functions of a Bloom filter (automerge uses 7).
pub const MAX_PROBES: u64 = 32;
/// Most bits per entry of a Bloom filter (automerge uses 10).
pub const MAX_BITS_PER_ENTRY: u64 = 64;
/// Most entries a Bloom filter may summarise: as many changes as a session may bring.
pub const MAX_BLOOM_ENTRIES: u64 = duo_journal::chunks::MAX_ITEMS;
/// Most bytes of flags at the end of a sync message (automerge sends 2).
pub const MAX_FLAGS: usize = 8;

const SYNC_V1: u8 = 0x42;
const SYNC_V2: u8 = 0x43;

/// Why a frame was refused: it is not what an honest peer sends, or it asks for more than
/// the limits above. Said in words for the session error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Malformed(String),
    #[error("{0}")]
    TooMuch(String),
}

fn malformed(what: String) -> Refusal {
    Refusal::Malformed(what)
}

fn too_much(what: String) -> Refusal {
    Refusal::TooMuch(what)
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], Refusal> {
        let n = usize::try_from(n).ok().filter(|n| *n <= self.0.len());
        let n = n.ok_or_else(|| malformed(format!("{what} runs past the end of the frame")))?;
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    /// An unsigned LEB128 number (automerge's lengths and counts, postcard's varints).
    fn uleb(&mut self, what: &str) -> Result<u64, Refusal> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1, what)?[0];
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(malformed(format!("{what} is not a number that fits in 64 bits")))
    }

    /// A count of at most `max`.
    fn count(&mut self, what: &str, max: usize) -> Result<u64, Refusal> {
        let n = self.uleb(what)?;
        if n > max as u64 {
            return Err(too_much(format!("{n} {what} (at most {max})")));
        }
        Ok(n)
    }

    /// A count of at most `max` 32-byte hashes, each greater than the one before (automerge
    /// sends them sorted, so a repeat is never honest).
    fn sorted_hashes(&mut self, what: &str, max: usize) -> Result<(), Refusal> {
        let n = self.count(what, max)?;
        let all = self.take(n * 32, what)?;
        if all.chunks(32).zip(all.chunks(32).skip(1)).any(|(a, b)| a >= b) {
            return Err(malformed(format!("{what} that are not sorted or repeat")));
        }
        Ok(())
    }

    /// A count of at most `max` non-empty byte strings, each with its length first; they
    /// add up to at most `max_bytes`.
    fn chunks(&mut self, what: &str, max: usize, max_bytes: u64) -> Result<Vec<&'a [u8]>, Refusal> {
        let n = self.count(what, max)?;
        let mut out = Vec::new();
        let mut total = 0u64;
        for _ in 0..n {
            let len = self.uleb(what)?;
            if len == 0 {
                return Err(malformed(format!("an empty entry among the {what}")));
            }
            total += len;
            if total > max_bytes {
                return Err(too_much(format!("{what} of more than {max_bytes} bytes in all")));
            }
            out.push(self.take(len, what)?);
        }
        Ok(out)
    }

    fn end(&self, what: &str) -> Result<(), Refusal> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(malformed(format!("{} bytes after the end of {what}", self.0.len())))
        }
    }
}

/// A sync message as automerge 0.12 lays it out (`automerge::sync::Message::encode`): the
/// type (0x42, or 0x43 for a message carrying a whole document), heads, needs, haves (each
/// the last-sync hashes and a Bloom filter), change chunks, then optionally flags. Returns
/// the change chunks, for [`duo_journal::SpaceDoc::check_outside_within`].
pub fn sync_message(bytes: &[u8]) -> Result<Vec<&[u8]>, Refusal> {
    let mut c = Cursor(bytes);
    let kind = c.take(1, "a sync message")?[0];
    if kind != SYNC_V1 && kind != SYNC_V2 {
        return Err(malformed(format!("a sync message of unknown type {kind:#04x}")));
    }
    c.sorted_hashes("heads", MAX_HASHES)?;
    c.sorted_hashes("needed changes", MAX_HASHES)?;
    for _ in 0..c.count("summaries of what it has", MAX_HAVES)? {
        c.sorted_hashes("last-sync heads", MAX_HASHES)?;
        let len = c.uleb("a Bloom filter")?;
        bloom(c.take(len, "a Bloom filter")?)?;
    }
    let changes = c.chunks("changes", MAX_CHANGES, u64::MAX)?;
    if !c.0.is_empty() {
        let len = c.count("bytes of flags", MAX_FLAGS)?;
        c.take(len, "the flags")?;
    }
    c.end("the sync message")?;
    Ok(changes)
}

/// A Bloom filter as automerge 0.12 lays it out (`BloomFilter::to_bytes`): nothing for an
/// empty one, else the number of entries, bits per entry and probes (hash functions),
/// then exactly the bits those say.
fn bloom(bytes: &[u8]) -> Result<(), Refusal> {
    if bytes.is_empty() {
        return Ok(());
    }
    let mut c = Cursor(bytes);
    let entries = c.uleb("a Bloom filter's entries")?;
    let bits_per_entry = c.uleb("a Bloom filter's bits per entry")?;
    let probes = c.uleb("a Bloom filter's probes")?;
    for (what, n, max) in [
        ("entries", entries, MAX_BLOOM_ENTRIES),
        ("bits per entry", bits_per_entry, MAX_BITS_PER_ENTRY),
        ("probes", probes, MAX_PROBES),
    ] {
        if !(1..=max).contains(&n) {
            return Err(too_much(format!("a Bloom filter with {n} {what} (1 to {max})")));
        }
    }
    c.take((entries * bits_per_entry).div_ceil(8), "a Bloom filter's bits")?;
    c.end("the Bloom filter")
}

/// duo's hello (postcard: an 8-byte base, heads, kept head positions, sample hashes,
/// change chunks), with the changes it carries, which honest peers keep to `max_changes`
/// bytes in all.
pub fn hello(bytes: &[u8], max_changes: u64) -> Result<Vec<&[u8]>, Refusal> {
    let mut c = Cursor(bytes);
    c.take(8, "the hello")?;
    let heads = c.count("heads", MAX_HASHES)?;
    c.take(heads * 32, "the heads")?;
    for _ in 0..c.count("kept heads", MAX_HASHES)? {
        c.uleb("a kept head")?;
    }
    let sample = c.count("sample hashes", MAX_HASHES)?;
    c.take(sample * 32, "the sample")?;
    let changes = c.chunks("changes in the hello", MAX_CHANGES, max_changes)?;
    c.end("the hello")?;
    Ok(changes)
}

/// A catch-up's list of change chunks (postcard).
pub fn change_list(bytes: &[u8]) -> Result<Vec<&[u8]>, Refusal> {
    let mut c = Cursor(bytes);
    let changes = c.chunks("changes", MAX_CHANGES, u64::MAX)?;
    c.end("the list of changes")?;
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::sync::{Message, State, SyncDoc};
    use automerge::transaction::Transactable;

    fn doc_with(n: usize) -> automerge::AutoCommit {
        let mut d = automerge::AutoCommit::new();
        for i in 0..n {
            d.put(automerge::ROOT, format!("k{i}"), i as i64).unwrap();
            d.commit();
        }
        d
    }

    /// Every message two real automerge documents send each other while syncing passes,
    /// and its chunks are the ones automerge decodes.
    #[test]
    fn what_automerge_sends_passes() {
        let mut docs = [doc_with(40), doc_with(3)];
        let mut states = [State::new(), State::new()];
        let mut seen = 0;
        for round in 0..20 {
            let (from, to) = (round % 2, 1 - round % 2);
            let message = docs[from].sync().generate_sync_message(&mut states[from]);
            if let Some(m) = message {
                let bytes = m.encode();
                let chunks = sync_message(&bytes).unwrap();
                let decoded = Message::decode(&bytes).unwrap();
                assert_eq!(chunks, decoded.changes.iter().collect::<Vec<_>>());
                docs[to].sync().receive_sync_message(&mut states[to], decoded).unwrap();
                seen += 1;
            }
        }
        let [a, b] = &mut docs;
        assert!(seen >= 3, "{seen}");
        assert_eq!(a.get_heads(), b.get_heads());
    }

    fn message(bloom: &[u8]) -> Vec<u8> {
        let mut m = vec![SYNC_V1, 1];
        m.extend([5u8; 32]); // one head
        m.extend([0, 1, 0]); // no needs; one have with no last-sync heads
        m.push(bloom.len() as u8);
        m.extend(bloom);
        m.push(0); // no changes
        m
    }

    #[test]
    fn bloom_filters_are_bounded() {
        // 1 entry, 10 bits, 7 probes: two bytes of bits.
        assert!(sync_message(&message(&[1, 10, 7, 0xff, 0x03])).is_ok());
        let probes = message(&[1, 8, 0xff, 0xff, 0xff, 0xff, 0x0f, 0xff]);
        assert!(Message::decode(&probes).is_ok(), "automerge takes it");
        let err = sync_message(&probes).unwrap_err();
        assert!(matches!(err, Refusal::TooMuch(_)), "{err:?}");
        let err = err.to_string();
        assert!(err.contains("4294967295 probes"), "{err}");
        for (bloom, why) in [
            (vec![1, 0, 7], "0 bits per entry"),
            (vec![1, 65, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0], "65 bits per entry"),
            (vec![0, 10, 7], "0 entries"),
            (vec![1, 10, 7, 0xff], "runs past"),
            (vec![1, 10, 7, 0xff, 0xff, 0], "after the end of the Bloom filter"),
        ] {
            let err = sync_message(&message(&bloom)).unwrap_err().to_string();
            assert!(err.contains(why), "{bloom:?}: {err}");
        }
    }

    #[test]
    fn counts_repeats_and_empty_chunks_are_refused() {
        let mut many = vec![SYNC_V1, 0x81, 0x20]; // 4097 heads
        many.extend(std::iter::repeat_n(0u8, 4097 * 32));
        assert!(sync_message(&many).unwrap_err().to_string().contains("4097 heads"));
        let mut repeat = vec![SYNC_V1, 2];
        repeat.extend([5u8; 64]);
        repeat.extend([0, 0, 0]);
        assert!(sync_message(&repeat).unwrap_err().to_string().contains("repeat"));
        for (bytes, why) in [
            (&[SYNC_V1, 0, 0, 2, 0, 0, 0, 0, 0][..], "2 summaries"),
            (&[SYNC_V1, 0, 0, 0, 2, 1, 0x85, 0], "empty entry"),
            (&[SYNC_V1, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0], "9 bytes of flags"),
            (&[SYNC_V1, 0, 0, 0, 0, 2, 2, 0x84, 7], "after the end"),
        ] {
            let err = sync_message(bytes).unwrap_err().to_string();
            assert!(err.contains(why), "{bytes:?}: {err}");
        }
        assert!(sync_message(&[0x41]).unwrap_err().to_string().contains("unknown type"));
    }

    #[test]
    fn hellos_and_change_lists_are_bounded() {
        use crate::session::Hello;
        let hello_of = |kept: usize, changes: Vec<Vec<u8>>| {
            postcard::to_allocvec(&Hello {
                base: [1; 8],
                heads: vec![[2; 32]],
                kept: (0..kept as u32).map(|i| i * 1000).collect(),
                sample: vec![[3; 32]; 2],
                changes,
            })
            .unwrap()
        };
        let ok = hello_of(5, vec![vec![1, 2, 3], vec![4]]);
        assert_eq!(hello(&ok, 100).unwrap(), vec![&[1u8, 2, 3][..], &[4][..]]);
        assert!(hello(&ok, 3).unwrap_err().to_string().contains("more than 3 bytes"));
        assert!(
            hello(&hello_of(4097, vec![]), 100)
                .unwrap_err()
                .to_string()
                .contains("4097 kept heads")
        );
        assert!(
            hello(&hello_of(0, vec![vec![]]), 100)
                .unwrap_err()
                .to_string()
                .contains("empty entry")
        );
        let list = postcard::to_allocvec(&vec![vec![9u8; 3]; 2]).unwrap();
        assert_eq!(change_list(&list).unwrap().len(), 2);
        // A million empty changes: 1 MB that postcard would turn into 24 MB of vectors.
        let mut empties = vec![0xc0, 0x84, 0x3d];
        empties.extend(std::iter::repeat_n(0u8, 1_000_000));
        assert!(
            change_list(&empties)
                .unwrap_err()
                .to_string()
                .contains("1000000 changes")
        );
    }
}
