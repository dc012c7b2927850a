//! Temporary cost probe (not committed).
use duo_journal::{SpaceDoc, View};
use std::time::Instant;
mod support;
use support::*;

#[test]
#[ignore]
fn cost() {
    let a = ring(ALICE);
    let by = a.sealer("laptop");
    let mut doc = space_with(&alices_entry(ID, duo_journal::Kind::Reflection, "first", &[]));
    let body = "I felt heard when you asked about my day, and I want to say so. ".repeat(8);
    let es: Vec<_> = (0..10_000)
        .map(|i| {
            let mut e = alices_entry(
                &format!("{i:032x}"),
                duo_journal::Kind::Reflection,
                &format!("{i} {body}"),
                &["x"],
            );
            e.created_at = 1_000 + i as i64;
            e
        })
        .collect();
    for e in &es {
        doc.add_entry(e, &by).unwrap();
        doc.automerge().commit();
    }
    let mut doc = SpaceDoc::load(&doc.save()).unwrap();
    let t = Instant::now();
    let mut c = doc.contents_with_history(None);
    eprintln!("contents_with_history: {:?}", t.elapsed());
    let before = doc.heads();
    let mut other = fork(&mut doc);
    let mut e = alices_entry(
        "ffff0000000000000000000000000000",
        duo_journal::Kind::Reflection,
        "new one",
        &[],
    );
    e.created_at = 5;
    other.add_entry(&e, &by).unwrap();
    let t = Instant::now();
    doc.merge(&mut other).unwrap();
    eprintln!("merge: {:?}", t.elapsed());
    let t = Instant::now();
    let ch = doc.automerge().get_changes(&before);
    eprintln!("get_changes: {:?} ({} changes)", t.elapsed(), ch.len());
    let t = Instant::now();
    let h = doc.heads();
    let d = doc.automerge().diff(&before, &h);
    eprintln!("diff: {:?} ({} patches)", t.elapsed(), d.len());
    let t = Instant::now();
    let changes = doc.entry_changes(&before);
    eprintln!("entry_changes: {:?} {:?}", t.elapsed(), changes);
    let t = Instant::now();
    doc.refresh_contents(&mut c, &before);
    eprintln!("refresh_contents: {:?}", t.elapsed());
    let v = View::new(c, Default::default());
    let t = Instant::now();
    let bytes = v.encode();
    eprintln!("view encode: {:?} ({} bytes)", t.elapsed(), bytes.len());
    let t = Instant::now();
    let _v = View::decode(&bytes).unwrap();
    eprintln!("view decode: {:?}", t.elapsed());
}
