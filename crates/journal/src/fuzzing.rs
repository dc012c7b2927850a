//! Entry points for fuzzing the journal's decoders of outside bytes. The `fuzz/` crate's
//! cargo-fuzz targets and the stable replay test (`crates/sync/tests/fuzz_replay.rs`) call
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
