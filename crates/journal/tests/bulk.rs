//! The bulk path of an import ([`SpaceDoc::add_entries`], one batch of operations per
//! entry) writes exactly what [`SpaceDoc::add_entry`] writes: the same fields, values and
//! seals, every entry authentic on its author's device.

use duo_journal::{Authenticity, Judge, Kind, Marks, SpaceDoc, Status, View};

mod support;
use support::*;

fn entries() -> Vec<duo_journal::NewEntry> {
    let mut boundary = alices_entry(
        "e0000000000000000000000000000002",
        Kind::Boundary,
        "I need an hour alone after work",
        &["evenings", "home"],
    );
    boundary.status = Some(Status::Revisit);
    boundary.no_replies = true;
    boundary.prompt = Some("comm-l1".into());
    let mut old = alices_entry("e0000000000000000000000000000003", Kind::Appreciation, "the walk", &[]);
    old.created_at = 0;
    old.edited_at = -5;
    vec![
        alices_entry(ID, Kind::Reflection, "a plain entry", &["walks"]),
        boundary,
        old,
        // A repeated tag: the second write of it is versioned after the first.
        alices_entry(
            "e0000000000000000000000000000004",
            Kind::Reflection,
            "twice",
            &["a", "b", "a"],
        ),
        alices_entry("e0000000000000000000000000000005", Kind::Reflection, "", &[""]),
    ]
}

fn plain(from: usize, n: usize) -> Vec<duo_journal::NewEntry> {
    (from..from + n)
        .map(|i| {
            let tags: &[&str] = if i % 2 == 0 { &["walks"] } else { &[] };
            let mut e = alices_entry(&format!("{i:032x}"), Kind::Reflection, &format!("entry {i}"), tags);
            e.created_at = 1_000 + i as i64;
            e
        })
        .collect()
}

/// `before` entries added one by one, then `added` by both paths: the same entries, and
/// every one authentic on Alice's device.
fn same_both_ways(before: &[duo_journal::NewEntry], added: &[duo_journal::NewEntry]) {
    let a = ring(ALICE);
    let by = a.sealer("laptop");
    let mut one_by_one = space_with(&alices_entry(
        "e0000000000000000000000000000009",
        Kind::Reflection,
        "first",
        &[],
    ));
    for e in before {
        one_by_one.add_entry(e, &by).unwrap();
    }
    let mut bulk = fork(&mut one_by_one);
    for e in added {
        one_by_one.add_entry(e, &by).unwrap();
    }
    bulk.add_entries(added, &by).unwrap();
    let (x, y) = (one_by_one.contents(), bulk.contents());
    assert_eq!(format!("{:?}", x.entries), format!("{:?}", y.entries));
    assert_eq!(x.entries.len(), 1 + before.len() + added.len() - 1);
    let bulk = SpaceDoc::load(&bulk.save()).unwrap();
    let view = View::new(bulk.contents(), Default::default());
    let marks = Marks::default();
    let judge = Judge::new(&a, &marks);
    let shown = judge.shown(&view);
    assert_eq!(shown.len(), x.entries.len());
    for s in shown {
        assert_eq!(s.check, Some(Authenticity::Authentic), "{}", s.entry.id);
    }
}

#[test]
fn the_bulk_path_writes_what_add_entry_writes_into_a_small_document() {
    // More entries than the document holds: written in a new document, merged with it.
    let mut added = entries();
    added.extend(plain(0, 40));
    // An id twice: the later one stands, as with one add after another.
    added.push(alices_entry(&format!("{:032x}", 3), Kind::Appreciation, "again", &[]));
    same_both_ways(&[], &added);
}

#[test]
fn the_bulk_path_writes_what_add_entry_writes_into_a_large_document() {
    // Fewer entries than the document holds: each entry's map one batch of its own; one of
    // them already there.
    let mut added = entries();
    added.push(alices_entry(&format!("{:032x}", 3), Kind::Appreciation, "again", &[]));
    same_both_ways(&plain(0, 40), &added);
}

#[test]
fn the_bulk_path_refuses_someone_elses_entry() {
    let b = ring(BOB);
    let mut doc = SpaceDoc::new();
    assert!(doc.add_entries(&entries()[..1], &b.sealer("phone")).is_err());
}
