//! A first look at automerge bytes from outside, before automerge parses them.
//!
//! Automerge 0.12 does two things while *parsing* a chunk, before it checks any checksum,
//! with no bound on what they may allocate:
//! - it decodes "bundle" chunks (an experimental format): fuzzing found a 777-byte bundle
//!   whose run-length counts made it ask for more than 8 GB;
//! - it inflates deflated parts (a compressed change, a document's compressed columns):
//!   a deflate stream of zeros grows about 1,000 times, so a 64 MiB frame could ask for
//!   64 GB.
//!
//! duo never writes bundles, so they are refused. Deflated parts are inflated here first,
//! into nothing, counting, and refused past [`inflate_limit`]. The walk follows automerge's
//! own format (magic, checksum, type, length; a document's actors, heads and column
//! metadata), and any byte that is not part of a whole chunk is refused too.

use crate::JournalError;
use std::io::Read;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT: u8 = 0;
const CHANGE: u8 = 1;
const COMPRESSED: u8 = 2;
const BUNDLE: u8 = 3;
/// The bit of a column specification that marks its data as deflated.
const DEFLATE_BIT: u64 = 0b1000;

/// The most inflated bytes accepted from `len` bytes of chunks: 64 times their size, at
/// least 64 MiB (a small document of one text pasted many times deflates very well) and at
/// most 1 GiB (the largest whole document a peer may send).
pub fn inflate_limit(len: usize) -> u64 {
    (len as u64).saturating_mul(64).clamp(64 << 20, 1 << 30)
}

fn refuse(what: impl Into<String>) -> JournalError {
    JournalError::Document(what.into())
}

/// One chunk as automerge lays it out: magic (4 bytes), checksum (4), type (1), data
/// length (LEB128), data.
struct Chunk<'a> {
    kind: u8,
    /// The whole chunk, header included.
    whole: &'a [u8],
    data: &'a [u8],
}

/// The chunk at the start of `bytes`, and the bytes after it.
fn next_chunk(bytes: &[u8]) -> Result<(Chunk<'_>, &[u8]), JournalError> {
    let mut r = Reader(bytes);
    if r.take(4)? != MAGIC {
        return Err(refuse("not an automerge chunk (bad magic bytes)"));
    }
    r.take(4)?; // checksum: automerge checks it after parsing
    let kind = r.take(1)?[0];
    let len = usize::try_from(r.uleb()?).map_err(|_| truncated())?;
    let data = r.take(len)?;
    let rest = r.0;
    let whole = &bytes[..bytes.len() - rest.len()];
    Ok((Chunk { kind, whole, data }, rest))
}

/// The whole chunks at the start of `bytes`, up to the first byte that is not one.
fn whole_chunks(mut bytes: &[u8]) -> impl Iterator<Item = Chunk<'_>> {
    std::iter::from_fn(move || {
        let (chunk, rest) = next_chunk(bytes).ok()?;
        bytes = rest;
        Some(chunk)
    })
}

/// Check that `bytes` are whole automerge chunks duo can load with bounded memory: no
/// bundle, no unknown chunk type, nothing left over, and deflated parts that inflate to at
/// most [`inflate_limit`] bytes in all.
pub fn check(bytes: &[u8]) -> Result<(), JournalError> {
    let limit = inflate_limit(bytes.len());
    let mut budget = Budget { left: limit, limit };
    let mut rest = bytes;
    while !rest.is_empty() {
        let (chunk, after) = next_chunk(rest)?;
        match chunk.kind {
            DOCUMENT => document(chunk.data, &mut budget)?,
            CHANGE => {}
            COMPRESSED => inflate(chunk.data, &mut budget)?,
            BUNDLE => {
                return Err(refuse(
                    "an automerge bundle chunk, which duo never writes (refused: bundles can ask for unbounded memory)",
                ));
            }
            other => return Err(refuse(format!("an unknown automerge chunk type ({other})"))),
        }
        rest = after;
    }
    Ok(())
}

/// The change chunks (compressed or not) among `bytes`, whole, header included. Stops at
/// the first byte that is not a whole chunk (run [`check`] first to refuse those).
pub fn change_chunks(bytes: &[u8]) -> Vec<&[u8]> {
    whole_chunks(bytes)
        .filter(|c| c.kind == CHANGE || c.kind == COMPRESSED)
        .map(|c| c.whole)
        .collect()
}

/// Fuzzing only: the same bytes with each document and change chunk's checksum rewritten to
/// match its contents. Automerge checks checksums after parsing; with them right, a fuzzer
/// also reaches what automerge does with a well-formed chunk (an attacker can compute
/// checksums too).
#[doc(hidden)]
pub fn with_valid_checksums(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    let mut out = Vec::with_capacity(bytes.len());
    for chunk in whole_chunks(bytes) {
        let at = out.len();
        out.extend(chunk.whole);
        if chunk.kind == DOCUMENT || chunk.kind == CHANGE {
            // The checksum covers what follows it: type, length and data.
            let hash = sha2::Sha256::digest(&chunk.whole[8..]);
            out[at + 4..at + 8].copy_from_slice(&hash[..4]);
        }
    }
    out.extend(&bytes[out.len()..]);
    out
}

/// A document chunk: actors, heads, change and op column metadata, then the column data.
/// Deflated columns are inflated against the budget.
fn document(data: &[u8], budget: &mut Budget) -> Result<(), JournalError> {
    let mut r = Reader(data);
    for _ in 0..r.uleb()? {
        let n = r.len()?;
        r.take(n)?;
    }
    let heads = r.len()?;
    r.take(heads.checked_mul(32).ok_or_else(truncated)?)?;
    let changes = r.columns()?;
    let ops = r.columns()?;
    for columns in [changes, ops] {
        for (spec, len) in columns {
            let column = r.take(len)?;
            if spec & DEFLATE_BIT != 0 {
                inflate(column, budget)?;
            }
        }
    }
    Ok(())
}

/// Inflated bytes still allowed, of a limit for the whole input.
struct Budget {
    left: u64,
    limit: u64,
}

/// Inflate `data` into nothing, taking what it grows to from the budget.
fn inflate(data: &[u8], budget: &mut Budget) -> Result<(), JournalError> {
    let mut inflater = flate2::bufread::DeflateDecoder::new(data).take(budget.left.saturating_add(1));
    let grown = std::io::copy(&mut inflater, &mut std::io::sink())
        .map_err(|e| refuse(format!("damaged compressed data in an automerge chunk ({e})")))?;
    if grown > budget.left {
        return Err(refuse(format!(
            "compressed data in automerge chunks grows past {} MiB (refused: it could exhaust memory)",
            budget.limit >> 20
        )));
    }
    budget.left -= grown;
    Ok(())
}

fn truncated() -> JournalError {
    refuse("a truncated automerge chunk")
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], JournalError> {
        if n > self.0.len() {
            return Err(truncated());
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    /// An unsigned LEB128 number of at most 64 bits.
    fn uleb(&mut self) -> Result<u64, JournalError> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = self.take(1)?[0];
            let low = u64::from(byte & 0x7f);
            if shift == 63 && low > 1 {
                return Err(refuse("a number too large in an automerge chunk"));
            }
            value |= low << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(refuse("a number too long in an automerge chunk"))
    }

    /// A length that must fit in what is left (so it never sizes an allocation).
    fn len(&mut self) -> Result<usize, JournalError> {
        let n = self.uleb()?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.0.len())
            .ok_or_else(truncated)
    }

    /// Column metadata: a count, then (specification, data length) pairs.
    fn columns(&mut self) -> Result<Vec<(u64, usize)>, JournalError> {
        let count = self.len()?; // every pair takes at least two bytes
        let mut columns = Vec::with_capacity(count / 2);
        for _ in 0..count {
            let spec = self.uleb()?;
            let len = usize::try_from(self.uleb()?).map_err(|_| truncated())?;
            columns.push((spec, len));
        }
        Ok(columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SpaceDoc;
    use std::io::Write;

    fn uleb(out: &mut Vec<u8>, mut n: u64) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn header(kind: u8, data: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend([0, 0, 0, 0, kind]);
        uleb(&mut out, data.len() as u64);
        out.extend(data);
        out
    }

    fn deflated_zeros(n: usize) -> Vec<u8> {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..n >> 20 {
            enc.write_all(&zeros).unwrap();
        }
        enc.finish().unwrap()
    }

    #[test]
    fn documents_and_changes_duo_writes_pass() {
        let mut doc = SpaceDoc::new();
        doc.init_schema().unwrap();
        use automerge::transaction::Transactable;
        let big = "the same words again and again ".repeat(2000);
        for i in 0..50 {
            doc.automerge()
                .put(automerge::ROOT, format!("k{i}"), big.as_str())
                .unwrap();
        }
        // duo saves without deflate; automerge's own save (and older duo) deflates columns.
        let saved = doc.save();
        let deflated = doc.automerge().save();
        assert!(
            deflated.len() < saved.len() / 10,
            "{} vs {}",
            deflated.len(),
            saved.len()
        );
        let changes = doc.automerge().save_after(&[]);
        for bytes in [&saved, &deflated, &changes, &[saved.clone(), changes.clone()].concat()] {
            check(bytes).unwrap();
        }
        assert!(SpaceDoc::load_untrusted(&deflated).is_ok());
    }

    #[test]
    fn bundles_unknown_types_and_leftovers_are_refused() {
        let err = check(&header(BUNDLE, b"anything")).unwrap_err().to_string();
        assert!(err.contains("bundle"), "{err}");
        let err = check(&header(9, b"")).unwrap_err().to_string();
        assert!(err.contains("unknown"), "{err}");
        let mut doc = SpaceDoc::new();
        doc.init_schema().unwrap();
        let mut bytes = doc.save();
        bytes.extend(b"junk");
        let err = check(&bytes).unwrap_err().to_string();
        assert!(err.contains("magic") || err.contains("truncated"), "{err}");
        let err = check(&header(CHANGE, b"")[..8]).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
    }

    #[test]
    fn a_compressed_change_that_inflates_past_the_limit_is_refused() {
        let bomb = deflated_zeros(80 << 20);
        assert!(bomb.len() < 200 << 10, "{} bytes", bomb.len());
        let err = check(&header(COMPRESSED, &bomb)).unwrap_err().to_string();
        assert!(err.contains("grows past 64 MiB"), "{err}");
        // Through every way in, without automerge ever inflating it.
        let chunk = header(COMPRESSED, &bomb);
        assert!(SpaceDoc::validate(&chunk).is_err());
        assert!(SpaceDoc::load_untrusted(&chunk).is_err());
        assert!(SpaceDoc::new().load_more(&chunk).is_err());
        // Below the limit it is left to automerge (which refuses the zeros as a change).
        check(&header(COMPRESSED, &deflated_zeros(1 << 20))).unwrap();
    }

    #[test]
    fn a_document_column_that_inflates_past_the_limit_is_refused() {
        let bomb = deflated_zeros(80 << 20);
        let mut data = vec![0u8, 0]; // no actors, no heads
        data.extend([0]); // no change columns
        data.push(1); // one op column: specification with the deflate bit, then its length
        data.push((1 << 4 | DEFLATE_BIT) as u8);
        uleb(&mut data, bomb.len() as u64);
        data.extend(&bomb);
        let err = check(&header(DOCUMENT, &data)).unwrap_err().to_string();
        assert!(err.contains("grows past"), "{err}");
        assert!(SpaceDoc::load_untrusted(&header(DOCUMENT, &data)).is_err());
    }

    #[test]
    fn checksums_are_rewritten_to_what_automerge_expects() {
        let mut doc = SpaceDoc::new();
        doc.init_schema().unwrap();
        let saved = [doc.save(), doc.automerge().save_after(&[])].concat();
        assert_eq!(
            with_valid_checksums(&saved),
            saved,
            "automerge's own checksums are kept"
        );
        let mut broken = saved.clone();
        broken[5] ^= 0xff;
        assert!(SpaceDoc::load_untrusted(&broken).is_err());
        assert_eq!(with_valid_checksums(&broken), saved);
    }

    #[test]
    fn the_limit_is_relative_with_a_floor_and_a_ceiling() {
        assert_eq!(inflate_limit(0), 64 << 20);
        assert_eq!(inflate_limit(2 << 20), 128 << 20);
        assert_eq!(inflate_limit(1 << 30), 1 << 30);
        assert_eq!(inflate_limit(usize::MAX), 1 << 30);
    }
}
