//! Entry points for fuzzing the journal's decoders of outside bytes. The `fuzz/` crate's
//! cargo-fuzz targets and the stable replay test (`crates/device/tests/fuzz_replay.rs`) call
//! these same functions, so a saved crasher is a regression test on every machine.
//!
//! Each function must never panic, whatever the bytes; where a decoder accepts its input,
//! it also checks a property of what came out.

use crate::SpaceDoc;

/// An import file (`duo import`): Day One JSON or duo's own `--json` output.
pub fn import(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = crate::import::parse(text, "0123456789abcdef0123456789abcdef") {
        for e in &parsed.entries {
            assert!(!e.body.trim().is_empty(), "an imported entry has a body");
            assert!(!e.id.is_empty(), "an imported entry has an id");
        }
        // Stable: the same file parses to the same entries.
        let again = crate::import::parse(text, "0123456789abcdef0123456789abcdef").expect("parsed once");
        assert_eq!(again, parsed);
    }
}

/// A whole automerge document received from a peer (or a bundle): loaded strictly, and,
/// when it loads, read the way a device reads its space, saved, and loaded again.
pub fn document(data: &[u8]) {
    document_once(data);
    // Automerge checks checksums after parsing: also try the bytes with them made right, to
    // reach what it does with a well-formed chunk.
    let fixed = crate::chunks::with_valid_checksums(data);
    if fixed != data {
        document_once(&fixed);
    }
}

fn document_once(data: &[u8]) {
    if SpaceDoc::validate(data).is_ok() {
        let mut lenient = SpaceDoc::new();
        let _ = lenient.load_more(data);
    }
    let Ok(mut doc) = SpaceDoc::load_untrusted(data) else {
        return;
    };
    let contents = doc.contents();
    let ids = doc.entry_ids();
    assert!(contents.entries.len() <= ids.len(), "every entry read has a root key");
    let _ = doc.check_schema();
    let saved = doc.save();
    let mut reloaded = SpaceDoc::load_untrusted(&saved).expect("a document this side saved loads again");
    assert_eq!(reloaded.heads(), doc.heads(), "save and load keep every change");
}

/// Append `n` as an unsigned LEB128 number (automerge's and postcard's lengths and counts).
pub fn uleb(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Append `n` as a signed LEB128 number (automerge's run lengths).
pub fn sleb(out: &mut Vec<u8>, mut n: i64) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if (n == 0 && b & 0x40 == 0) || (n == -1 && b & 0x40 != 0) {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// An attacker's change, for seeds and tests: a list at the root, then `n` nulls inserted
/// into it. Run-length encoding keeps it about a hundred bytes whatever `n`, and automerge
/// builds every one of the `n` operations (a million took 460 MiB). Its checksum is right.
pub fn many_operations(n: u64) -> Vec<u8> {
    many_operations_by([7; 16], n, 0)
}

/// [`many_operations`] by the actor `actor`, with a message of `padding` bytes (so that
/// the change is that much longer).
pub fn many_operations_by(actor: [u8; 16], n: u64, padding: usize) -> Vec<u8> {
    let n = n.max(2) as i64;
    // (column specification, run-length encoded data): one make-list operation on the
    // root, then `n` inserts of null, each after the one before.
    let run = |prefix: &[u8], count: i64, value: &[u8]| {
        let mut c = prefix.to_vec();
        sleb(&mut c, count);
        c.extend(value);
        c
    };
    let mut keys = vec![0x7f, 1, b'l', 0];
    uleb(&mut keys, n as u64);
    let mut insert = vec![1];
    uleb(&mut insert, n as u64);
    let columns = [
        (0x01, run(&[0, 1], n, &[0])),                 // object actor: root, then the list's
        (0x02, run(&[0, 1], n, &[1])),                 // object counter
        (0x11, run(&[0, 2], n - 1, &[0])),             // key actor: none, head, then previous
        (0x13, run(&[0, 1, 0x7e, 0, 2], n - 2, &[1])), // key counter, delta encoded
        (0x15, keys),                                  // key string "l", then none
        (0x34, insert),                                // insert: false once, then true
        (0x42, run(&[0x7f, 2], n, &[1])),              // action: make list, then set
        (0x56, run(&[], n + 1, &[0])),                 // value metadata: null
        (0x70, run(&[], n + 1, &[0])),                 // no predecessors
    ];
    let mut data = vec![0, 16];
    data.extend(actor); // no dependencies, actor
    data.extend([1, 1, 0]); // seq, first op, time
    uleb(&mut data, padding as u64);
    data.extend(std::iter::repeat_n(b'.', padding)); // the message
    data.push(0); // no other actors
    uleb(&mut data, columns.len() as u64);
    for (spec, c) in &columns {
        data.push(*spec);
        uleb(&mut data, c.len() as u64);
    }
    for (_, c) in &columns {
        data.extend(c);
    }
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1];
    uleb(&mut chunk, data.len() as u64);
    chunk.extend(data);
    crate::chunks::with_valid_checksums(&chunk)
}
