//! A first look at automerge bytes from outside, before automerge parses them.
//!
//! Automerge 0.12 does three things while *parsing* or *applying* a chunk, before it checks
//! any checksum, with no bound on what they may allocate:
//! - it decodes "bundle" chunks (an experimental format): fuzzing found a 777-byte bundle
//!   whose run-length counts made it ask for more than 8 GB;
//! - it inflates deflated parts (a compressed change, a document's compressed columns):
//!   a deflate stream of zeros grows about 1,000 times, so a 64 MiB frame could ask for
//!   64 GB;
//! - it builds every operation a chunk's columns describe, about half a kilobyte each, and
//!   run-length encoding lets a few bytes describe any number of them: a 104-byte change
//!   of a million operations made automerge allocate 460 MiB.
//!
//! duo never writes bundles, so they are refused. Deflated parts are inflated here first,
//! into nothing, counting, and refused past [`inflate_limit`]. For bytes from outside
//! ([`check_counted`]) the rows of every column are counted too (without building
//! anything): a change may describe at most one operation per byte of it (or
//! [`CHANGE_FLOOR`]), and everything from one peer session or one load at most
//! [`MAX_ITEMS`]. The walk follows automerge's own format (magic, checksum, type, length;
//! a change's header and columns; a document's actors, heads and columns), and any byte
//! that is not part of a whole chunk is refused too.

use crate::JournalError;
use std::io::Read;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT: u8 = 0;
const CHANGE: u8 = 1;
const COMPRESSED: u8 = 2;
const BUNDLE: u8 = 3;
/// The bit of a column specification that marks its data as deflated.
const DEFLATE_BIT: u64 = 0b1000;
/// The low bits of a column specification: its type.
const TYPE_BITS: u64 = 0b111;
/// Column types whose data is a run-length encoding of strings, of booleans (alternating
/// run lengths), and of raw bytes (no rows of their own); every other type is a run-length
/// encoding of LEB128 numbers.
const STRING: u64 = 5;
const BOOLEAN: u64 = 4;
const RAW: u64 = 7;
/// Most columns a chunk may list (automerge 0.12 writes at most 16).
const MAX_COLUMNS: usize = 64;

/// The most operations, changes, dependencies or actors (whichever a chunk has most of:
/// each becomes an object in automerge, up to about half a kilobyte) that bytes from
/// outside may describe in all, in one sync session or one load: 1,048,576. A journal of
/// about 70,000 entries (15 operations each) reaches it.
pub const MAX_ITEMS: u64 = 1 << 20;

/// A change from outside may describe more operations than it has bytes only up to this
/// many (a few operations in a short change are normal).
pub const CHANGE_FLOOR: u64 = 64;

/// The most inflated bytes accepted from `len` bytes of chunks: 64 times their size, at
/// least 64 MiB (a small document of one text pasted many times deflates very well) and at
/// most 1 GiB (the largest whole document a peer may send).
pub fn inflate_limit(len: usize) -> u64 {
    (len as u64).saturating_mul(64).clamp(64 << 20, 1 << 30)
}

/// What bytes from outside may still describe, shared by every input of one sync session
/// (or used for one load): [`MAX_ITEMS`] unless a session says less.
#[derive(Clone, Debug)]
pub struct Allowance {
    left: u64,
    limit: u64,
}

impl Default for Allowance {
    fn default() -> Self {
        Allowance::new(MAX_ITEMS)
    }
}

impl Allowance {
    /// At most `limit` operations, changes or actors in all.
    pub fn new(limit: u64) -> Self {
        Allowance { left: limit, limit }
    }

    /// How much of the limit was used.
    pub fn used(&self) -> u64 {
        self.limit - self.left
    }

    fn take(&mut self, items: u64) -> Result<(), JournalError> {
        if items > self.left {
            return Err(refuse(format!(
                "automerge data that describes more than {} operations, changes or actors in all (refused: building them could exhaust memory)",
                self.limit
            )));
        }
        self.left -= items;
        Ok(())
    }
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
/// most [`inflate_limit`] bytes in all. For this device's own files; bytes from outside go
/// through [`check_counted`].
pub fn check(bytes: &[u8]) -> Result<(), JournalError> {
    walk(bytes, None)
}

/// [`check`], and count what the chunks describe (without building it): a change may
/// describe at most one operation per byte (or [`CHANGE_FLOOR`]), and all the chunks
/// together take from `allowance` (see [`MAX_ITEMS`]).
pub fn check_counted(bytes: &[u8], allowance: &mut Allowance) -> Result<(), JournalError> {
    walk(bytes, Some(allowance))
}

fn walk(bytes: &[u8], mut allowance: Option<&mut Allowance>) -> Result<(), JournalError> {
    let limit = inflate_limit(bytes.len());
    let mut budget = Budget { left: limit, limit };
    let mut rest = bytes;
    while !rest.is_empty() {
        let (chunk, after) = next_chunk(rest)?;
        let counting = allowance.is_some();
        let items = match chunk.kind {
            DOCUMENT => document(chunk.data, &mut budget, counting)?,
            CHANGE if counting => within_floor(change(&mut { chunk.data })?, chunk.data.len() as u64)?,
            CHANGE => 0,
            COMPRESSED => compressed_change(chunk.data, &mut budget, counting)?,
            BUNDLE => {
                return Err(refuse(
                    "an automerge bundle chunk, which duo never writes (refused: bundles can ask for unbounded memory)",
                ));
            }
            other => return Err(refuse(format!("an unknown automerge chunk type ({other})"))),
        };
        if let Some(a) = allowance.as_deref_mut() {
            a.take(items)?;
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
/// Deflated columns are inflated against the budget. When `counting`, returns the most rows
/// any column has (changes, operations, dependencies...), or the number of actors or heads
/// if larger.
fn document(data: &[u8], budget: &mut Budget, counting: bool) -> Result<u64, JournalError> {
    let mut r = Reader(data);
    let actors = r.uleb()?;
    for _ in 0..actors {
        let n = r.len()?;
        r.take(n)?;
    }
    let heads = r.len()?;
    r.take(heads.checked_mul(32).ok_or_else(truncated)?)?;
    let changes = r.columns()?;
    let ops = r.columns()?;
    let mut most = actors.max(heads as u64);
    for (spec, len) in changes.into_iter().chain(ops) {
        let column = r.take(len)?;
        if spec & DEFLATE_BIT == 0 {
            if counting {
                most = most.max(rows(spec, &mut { column })?);
            }
            continue;
        }
        let mut inflater = budget.inflater(column);
        if counting {
            most = most.max(rows(spec, &mut inflater).map_err(|e| budget.explain(&inflater, e))?);
        }
        budget.finish(inflater)?;
    }
    Ok(most)
}

/// A change chunk's data (after the header), at `data`: its dependencies, actor, numbers,
/// message, other actors and operation columns, as automerge 0.12 lays them out. Returns the
/// most rows an operation column has, or the number of dependencies or actors if larger.
/// Reads only as far as the columns go (the rest is the change's extra bytes).
fn change<R: Read>(data: &mut R) -> Result<u64, JournalError> {
    let deps = uleb(data)?;
    skip(data, deps.checked_mul(32).ok_or_else(truncated)?)?;
    let actor = uleb(data)?;
    skip(data, actor)?;
    uleb(data)?; // sequence number
    uleb(data)?; // first operation
    uleb(data)?; // time (signed, same length rules)
    let message = uleb(data)?;
    skip(data, message)?;
    let others = uleb(data)?;
    for _ in 0..others {
        // Each at least one byte, so this ends with the data.
        let n = uleb(data)?;
        skip(data, n)?;
    }
    let mut most = deps.max(others.saturating_add(1));
    for (spec, len) in columns(data)? {
        if spec & DEFLATE_BIT != 0 {
            return Err(refuse("a change with deflated columns (automerge refuses them)"));
        }
        most = most.max(rows(spec, &mut data.take(len))?);
    }
    Ok(most)
}

/// Refuse a change of `len` bytes of data that describes more than one operation per byte
/// (or [`CHANGE_FLOOR`]).
fn within_floor(items: u64, len: u64) -> Result<u64, JournalError> {
    if items > len.max(CHANGE_FLOOR) {
        return Err(refuse(format!(
            "an automerge change of {len} bytes that describes {items} operations (refused: at most one per byte, or {CHANGE_FLOOR}, since building them could exhaust memory)"
        )));
    }
    Ok(items)
}

/// A compressed change: inflated against the budget and, when `counting`, read as a change.
fn compressed_change(data: &[u8], budget: &mut Budget, counting: bool) -> Result<u64, JournalError> {
    let mut inflater = budget.inflater(data);
    let items = if counting {
        change(&mut inflater).map_err(|e| budget.explain(&inflater, e))?
    } else {
        0
    };
    let grown = budget.finish(inflater)?;
    if counting { within_floor(items, grown) } else { Ok(0) }
}

/// The rows of one column of type `spec`, read to its end: the sum of its run lengths
/// (its values are skipped, never kept). Raw value columns have no rows of their own.
fn rows<R: Read>(spec: u64, column: &mut R) -> Result<u64, JournalError> {
    let kind = spec & TYPE_BITS;
    let mut rows = 0u64;
    if kind == RAW {
        std::io::copy(column, &mut std::io::sink()).map_err(damaged)?;
        return Ok(0);
    }
    while let Some(first) = next_byte(column)? {
        if kind == BOOLEAN {
            rows = rows.saturating_add(uleb_from(first, column)?);
            continue;
        }
        let run = sleb_from(first, column)?;
        if run > 0 {
            rows = rows.saturating_add(run as u64);
            value(kind, column)?;
        } else if run < 0 {
            let n = run.unsigned_abs();
            rows = rows.saturating_add(n);
            for _ in 0..n {
                // Each value takes at least one byte, so this ends with the column.
                value(kind, column)?;
            }
        } else {
            rows = rows.saturating_add(uleb(column)?); // a run of nulls
        }
    }
    Ok(rows)
}

/// Skip one value of a run-length encoded column: a string, or a LEB128 number.
fn value<R: Read>(kind: u64, column: &mut R) -> Result<(), JournalError> {
    let n = uleb(column)?;
    if kind == STRING { skip(column, n) } else { Ok(()) }
}

/// Inflated bytes still allowed, of a limit for the whole input.
struct Budget {
    left: u64,
    limit: u64,
}

type Inflater<'a> = std::io::Take<flate2::bufread::DeflateDecoder<&'a [u8]>>;

impl Budget {
    /// A reader of `data` inflated, which stops one byte past what the budget allows.
    fn inflater<'a>(&self, data: &'a [u8]) -> Inflater<'a> {
        flate2::bufread::DeflateDecoder::new(data).take(self.left.saturating_add(1))
    }

    /// Inflate the rest into nothing and take what it all grew to from the budget.
    fn finish(&mut self, mut inflater: Inflater<'_>) -> Result<u64, JournalError> {
        std::io::copy(&mut inflater, &mut std::io::sink()).map_err(damaged)?;
        let grown = self.left.saturating_add(1) - inflater.limit();
        if grown > self.left {
            return Err(self.grew_past());
        }
        self.left -= grown;
        Ok(grown)
    }

    /// An error reading inflated data: past the budget if it stopped there.
    fn explain(&self, inflater: &Inflater<'_>, e: JournalError) -> JournalError {
        if inflater.limit() == 0 { self.grew_past() } else { e }
    }

    fn grew_past(&self) -> JournalError {
        refuse(format!(
            "compressed data in automerge chunks grows past {} MiB (refused: it could exhaust memory)",
            self.limit >> 20
        ))
    }
}

fn truncated() -> JournalError {
    refuse("a truncated automerge chunk")
}

fn damaged(e: std::io::Error) -> JournalError {
    refuse(format!("damaged compressed data in an automerge chunk ({e})"))
}

/// The next byte, or `None` at the end.
fn next_byte<R: Read>(r: &mut R) -> Result<Option<u8>, JournalError> {
    let mut b = [0u8];
    loop {
        return match r.read(&mut b) {
            Ok(0) => Ok(None),
            Ok(_) => Ok(Some(b[0])),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => Err(damaged(e)),
        };
    }
}

fn byte<R: Read>(r: &mut R) -> Result<u8, JournalError> {
    next_byte(r)?.ok_or_else(truncated)
}

/// An unsigned LEB128 number of at most 64 bits.
fn uleb<R: Read>(r: &mut R) -> Result<u64, JournalError> {
    let first = byte(r)?;
    uleb_from(first, r)
}

/// An unsigned LEB128 number of at most 64 bits whose first byte is `first`.
fn uleb_from<R: Read>(first: u8, r: &mut R) -> Result<u64, JournalError> {
    let mut value = 0u64;
    let mut byte_now = first;
    for shift in (0..70).step_by(7) {
        let low = u64::from(byte_now & 0x7f);
        if shift == 63 && low > 1 {
            return Err(refuse("a number too large in an automerge chunk"));
        }
        value |= low << shift;
        if byte_now & 0x80 == 0 {
            return Ok(value);
        }
        byte_now = byte(r)?;
    }
    Err(refuse("a number too long in an automerge chunk"))
}

/// A signed LEB128 number of at most 64 bits whose first byte is `first`.
fn sleb_from<R: Read>(first: u8, r: &mut R) -> Result<i64, JournalError> {
    let mut value = 0i64;
    let mut byte_now = first;
    for shift in (0..70).step_by(7) {
        value |= i64::from(byte_now & 0x7f).wrapping_shl(shift);
        if byte_now & 0x80 == 0 {
            if shift < 63 && byte_now & 0x40 != 0 {
                value |= -1i64 << (shift + 7); // sign extension
            }
            return Ok(value);
        }
        byte_now = byte(r)?;
    }
    Err(refuse("a number too long in an automerge chunk"))
}

/// Skip `n` bytes, which must be there.
fn skip<R: Read>(r: &mut R, n: u64) -> Result<(), JournalError> {
    let got = std::io::copy(&mut r.take(n), &mut std::io::sink()).map_err(damaged)?;
    if got == n { Ok(()) } else { Err(truncated()) }
}

/// Column metadata: a count, then (specification, data length) pairs.
fn columns<R: Read>(r: &mut R) -> Result<Vec<(u64, u64)>, JournalError> {
    let count = uleb(r)?;
    if count > MAX_COLUMNS as u64 {
        return Err(refuse(format!(
            "an automerge chunk with {count} columns (at most {MAX_COLUMNS})"
        )));
    }
    (0..count).map(|_| Ok((uleb(r)?, uleb(r)?))).collect()
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

    fn uleb(&mut self) -> Result<u64, JournalError> {
        uleb(&mut self.0)
    }

    /// A length that must fit in what is left (so it never sizes an allocation).
    fn len(&mut self) -> Result<usize, JournalError> {
        let n = self.uleb()?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.0.len())
            .ok_or_else(truncated)
    }

    /// Column metadata, each length within what is left.
    fn columns(&mut self) -> Result<Vec<(u64, usize)>, JournalError> {
        columns(&mut self.0)?
            .into_iter()
            .map(|(spec, len)| Ok((spec, usize::try_from(len).map_err(|_| truncated())?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SpaceDoc;
    use crate::fuzzing::{sleb, uleb};
    use std::io::Write;

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

    fn counted(bytes: &[u8]) -> Result<u64, JournalError> {
        let mut a = Allowance::default();
        check_counted(bytes, &mut a)?;
        Ok(a.used())
    }

    #[test]
    fn what_duo_writes_is_counted_and_passes() {
        let mut doc = SpaceDoc::new();
        doc.init_schema().unwrap();
        use automerge::transaction::Transactable;
        for i in 0..200 {
            let list = doc
                .automerge()
                .put_object(automerge::ROOT, format!("k{i}"), automerge::ObjType::List)
                .unwrap();
            for t in 0..50 {
                // Short values, many in a row: the densest honest data (tags).
                doc.automerge().insert(&list, t, "a").unwrap();
            }
            doc.automerge().commit();
        }
        let ops = 200 * 51;
        let saved = doc.save();
        let deflated = doc.automerge().save();
        let changes = doc.automerge().save_after(&[]);
        for bytes in [&saved, &deflated] {
            let used = counted(bytes).unwrap();
            assert!((ops as u64..ops as u64 + 50).contains(&used), "{used}");
        }
        assert!(counted(&changes).unwrap() >= ops as u64);
        for change in doc.automerge().get_changes(&[]) {
            counted(change.raw_bytes()).unwrap();
        }
        assert!(SpaceDoc::load_untrusted(&deflated).is_ok());
    }

    #[test]
    fn a_change_of_a_million_operations_in_a_hundred_bytes_is_refused() {
        let bomb = crate::fuzzing::many_operations(1_000_000);
        assert!(bomb.len() < 128, "{} bytes", bomb.len());
        // Its own bytes pass the first look (it is a well-formed change)...
        check(&bomb).unwrap();
        // ...and counting refuses it, before automerge builds anything, by every way in.
        let err = counted(&bomb).unwrap_err().to_string();
        assert!(err.contains("describes 1000001 operations"), "{err}");
        assert!(SpaceDoc::validate(&bomb).is_err());
        assert!(SpaceDoc::load_untrusted(&bomb).is_err());
        // Compressed (its data deflated): the same.
        let (chunk, _) = next_chunk(&bomb).unwrap();
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(chunk.data).unwrap();
        let err = counted(&header(COMPRESSED, &enc.finish().unwrap()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("describes 1000001 operations"), "{err}");
        // Up to the floor, a short change may describe more operations than it has bytes.
        let small = crate::fuzzing::many_operations(CHANGE_FLOOR - 1);
        assert_eq!(counted(&small).unwrap(), CHANGE_FLOOR);
        assert!(SpaceDoc::validate(&small).is_ok(), "the crafted change is a valid one");
    }

    #[test]
    fn a_document_takes_what_it_describes_from_the_allowance() {
        let mut doc = SpaceDoc::load(&crate::fuzzing::many_operations(60)).unwrap();
        for _ in 0..3 {
            doc.load_more(&crate::fuzzing::many_operations(60)).unwrap();
        }
        let saved = doc.save();
        let used = counted(&saved).unwrap();
        assert!(used >= 61, "{used}");
        let mut small = Allowance::new(used - 1);
        let err = check_counted(&saved, &mut small).unwrap_err().to_string();
        assert!(err.contains(&format!("more than {} operations", used - 1)), "{err}");
        // An allowance is shared: two inputs that fit alone may not fit together.
        let mut a = Allowance::new(used + 10);
        check_counted(&saved, &mut a).unwrap();
        assert!(check_counted(&saved, &mut a).is_err());
        // This device's own files are never counted.
        check(&saved).unwrap();
        SpaceDoc::load_stored(&saved).unwrap();
    }

    #[test]
    fn run_lengths_are_read_the_way_automerge_writes_them() {
        // Runs, literals, nulls; booleans; strings; raw bytes.
        let mut c = Vec::new();
        sleb(&mut c, 300);
        c.push(5); // 300 × 5
        sleb(&mut c, -3);
        c.extend([1, 0x80, 0x01, 0x7f]); // literal of 3 (one two bytes long)
        c.extend([0, 9]); // 9 nulls
        assert_eq!(rows(0x02, &mut c.as_slice()).unwrap(), 312);
        assert_eq!(rows(0x04 | 0x10, &mut [2u8, 3, 0x80, 0x01].as_slice()).unwrap(), 133);
        assert_eq!(rows(0x05, &mut [0x7e, 1, b'a', 2, b'b', b'c'].as_slice()).unwrap(), 2);
        assert_eq!(rows(0x07, &mut [1u8, 2, 3].as_slice()).unwrap(), 0);
        // A literal that claims more values than there are bytes is truncated.
        assert!(rows(0x02, &mut [0x40, 1].as_slice()).is_err());
        assert!(rows(0x05, &mut [1, 9, b'a'].as_slice()).is_err());
    }
}
