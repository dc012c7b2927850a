//! Suite 3 (corruption): random bit flips, truncations, deletions and foreign files in a
//! store, one per round on a fresh copy, with a seeded RNG. Every damage must be named by
//! `duo doctor` (and, for a damaged or deleted chunk, by `duo journal list`), nothing may
//! panic, and every entry outside the damaged file must still be listed. Every deleted chunk
//! is named, also one written after the last stored view: its mark (`marks/<dir>-<hash>`,
//! an empty file) says it was written. A deleted mark or view loses nothing.
//!
//! `DUO_TEST_CORRUPTIONS` rounds (default 200; `just soak`: 1000), `DUO_TEST_SEED` to
//! replay a run (the seed is printed).

use crate::harness::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// xorshift64*: small, seeded, reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

pub fn env_count(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
    let mode = std::fs::metadata(from).unwrap().permissions();
    std::fs::set_permissions(to, mode).unwrap();
}

/// The data files of both stores (chunks, marks and views), relative to the home.
fn store_files(home: &Path) -> BTreeSet<PathBuf> {
    ["space", "private"]
        .iter()
        .flat_map(|s| files_under(&home.join(s)))
        .filter(|p| p.file_name().is_some_and(|n| n != ".lock"))
        .map(|p| p.strip_prefix(home).unwrap().to_path_buf())
        .collect()
}

/// The name duo reports for a store file: `adds/<hash>` for `space/adds/<hash>.age`,
/// `view` for `view.age` and for a part of it (`view-parts/<hash>.age`), a foreign file's
/// (or a mark's) own path within its store.
fn reported_name(rel: &Path) -> String {
    let inner: PathBuf = rel.components().skip(1).collect();
    let s = inner.to_string_lossy().into_owned();
    if s.starts_with("view-parts/") && s.ends_with(".age") {
        return "view".to_string();
    }
    if s.contains('/') && !s.ends_with(".age") {
        return s;
    }
    s.strip_suffix(".age").map(str::to_string).unwrap_or(s)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Damage {
    BitFlip,
    Truncate,
    Delete,
    Foreign,
}

#[derive(Default, Debug)]
struct Counts {
    rounds: usize,
    named_by_doctor: usize,
    named_by_list: usize,
    chunk_damage: usize,
    /// Deleted chunks, all of which `doctor` and `list` must name.
    chunks_deleted: usize,
    /// Of them, chunks written after the last stored view (named thanks to their marks).
    newer_than_view: usize,
    /// A deleted view: nothing lost, rebuilt without a word.
    harmless: usize,
    /// A deleted mark: nothing lost (its chunk is there), nothing to report.
    marks_deleted: usize,
    /// Foreign files put in `marks/`.
    in_marks: usize,
}

#[test]
fn random_damage_is_named_and_the_rest_stays_readable() {
    let rounds = env_count("DUO_TEST_CORRUPTIONS", 200);
    let seed = std::env::var("DUO_TEST_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("corruption: seed {seed} (DUO_TEST_SEED={seed} replays this run), {rounds} rounds");
    let mut rng = Rng::new(seed);

    // A store whose files we know: which entry each `adds/` chunk holds.
    let base = Device::new("Alice");
    let mut holds: BTreeMap<PathBuf, String> = BTreeMap::new();
    let mut all = BTreeSet::new();
    let add = |text: &str, extra: &[&str], holds: &mut BTreeMap<PathBuf, String>| {
        let before = store_files(&base.home());
        let id = base.add(text, extra);
        let new: Vec<PathBuf> = store_files(&base.home())
            .difference(&before)
            .filter(|p| p.to_string_lossy().contains("/adds/"))
            .cloned()
            .collect();
        assert_eq!(new.len(), 1, "one add, one chunk: {new:?}");
        holds.insert(new[0].clone(), id.clone());
        id
    };
    for i in 0..10 {
        all.insert(add(&format!("shared entry {i}"), &[], &mut holds));
    }
    for i in 0..4 {
        all.insert(add(&format!("private entry {i}"), &["--private"], &mut holds));
    }
    let edited = all.iter().next().unwrap().clone();
    base.run(&["journal", "edit", &edited, "edited text"]).ok();
    // The view covers every file so far; the last two adds come after it, as between
    // a read and the next one that folds them in.
    base.run(&["doctor"]).ok();
    let mut uncovered = BTreeSet::new();
    for i in 0..2 {
        let before = store_files(&base.home());
        all.insert(add(&format!("after the view {i}"), &[], &mut holds));
        uncovered.extend(store_files(&base.home()).difference(&before).cloned());
    }
    let files: Vec<PathBuf> = store_files(&base.home()).into_iter().collect();
    // Marks are empty: a bit flip or a truncation picks among the files with content.
    let nonempty: Vec<PathBuf> = files
        .iter()
        .filter(|p| std::fs::metadata(base.home().join(p)).unwrap().len() > 0)
        .cloned()
        .collect();
    let is_mark = |p: &Path| p.components().nth(1).is_some_and(|c| c.as_os_str() == "marks");
    let marks = files.iter().filter(|p| is_mark(p)).count();
    assert_eq!(files.len() - nonempty.len(), marks, "marks, and only marks, are empty");
    assert!(marks >= 16, "each chunk has a mark: {marks}");
    eprintln!(
        "corruption: base store of {} files ({} of them empty marks), {} entries",
        files.len(),
        marks,
        all.len()
    );

    let started = Instant::now();
    let mut counts: BTreeMap<Damage, Counts> = BTreeMap::new();
    for round in 0..rounds {
        let d = Device::blank();
        copy_dir(&base.home(), &d.home());
        let damage = [Damage::BitFlip, Damage::Truncate, Damage::Delete, Damage::Foreign][rng.below(4)];
        // A flip or a truncation picks a file with content; so do 3 in 4 deletions (the
        // same files as before marks existed), and the 4th deletes a mark.
        let marks_only: Vec<&PathBuf> = files.iter().filter(|p| is_mark(p)).collect();
        let victim = match damage {
            Damage::Delete if rng.below(4) == 0 => marks_only[rng.below(marks_only.len())].clone(),
            Damage::BitFlip | Damage::Truncate | Damage::Delete => nonempty[rng.below(nonempty.len())].clone(),
            Damage::Foreign => files[rng.below(files.len())].clone(),
        };
        let path = d.home().join(&victim);
        let mut lost: Option<&String> = None;
        let (name, what) = match damage {
            Damage::BitFlip | Damage::Truncate => {
                let mut bytes = std::fs::read(&path).unwrap();
                let what = if damage == Damage::BitFlip {
                    let at = rng.below(bytes.len());
                    let bit = rng.below(8);
                    bytes[at] ^= 1 << bit;
                    format!("bit {bit} of byte {at} flipped")
                } else {
                    let len = rng.below(bytes.len());
                    bytes.truncate(len);
                    format!("truncated to {len} bytes")
                };
                std::fs::write(&path, bytes).unwrap();
                lost = holds.get(&victim);
                (reported_name(&victim), what)
            }
            Damage::Delete => {
                std::fs::remove_file(&path).unwrap();
                lost = holds.get(&victim);
                (reported_name(&victim), "deleted".to_string())
            }
            Damage::Foreign => {
                let store = ["space", "private"][rng.below(2)];
                let sub = ["", "adds/", "changes/", "snapshots/", "marks/"][rng.below(5)];
                let rel = format!("{store}/{sub}notes-{}.txt", rng.next() % 10_000);
                counts.entry(damage).or_default().in_marks += usize::from(sub == "marks/");
                std::fs::write(d.home().join(&rel), b"a file someone else put here").unwrap();
                (reported_name(Path::new(&rel)), "a foreign file".to_string())
            }
        };
        let c = counts.entry(damage).or_default();
        c.rounds += 1;
        let context = format!("round {round} (seed {seed}): {} {what}", victim.display());

        let doctor = d.run(&["doctor", "--json"]);
        assert!(
            doctor.code == 0 || doctor.code == 11,
            "{context}: doctor exited {}\n{}",
            doctor.code,
            doctor.stderr
        );
        let report: serde_json::Value = serde_json::from_str(&doctor.stdout)
            .unwrap_or_else(|e| panic!("{context}: doctor --json is not JSON ({e}): {}", doctor.stdout));
        let named: Vec<String> = report["stores"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["problems"].as_array().unwrap().iter())
            .map(|p| p["file"].as_str().unwrap_or_default().to_string())
            .collect();
        let view_gone = damage == Damage::Delete && name == "view";
        let mark_gone = damage == Damage::Delete && is_mark(&victim);
        let chunk_gone = damage == Damage::Delete && !view_gone && !mark_gone;
        if view_gone || mark_gone {
            // The view is a cache, and a mark only says that its chunk (still there) was
            // written: nothing is lost, doctor says nothing.
            assert_eq!(doctor.code, 0, "{context}: {}", doctor.stdout);
            if view_gone {
                c.harmless += 1;
            } else {
                c.marks_deleted += 1;
            }
        } else {
            assert_eq!(doctor.code, 11, "{context}: doctor must report it: {}", doctor.stdout);
            assert!(named.contains(&name), "{context}: doctor names {name}: {named:?}");
            c.named_by_doctor += 1;
        }

        let list = d.run(&["journal", "list", "--all", "--json"]);
        assert!(
            list.code == 0 || list.code == 11,
            "{context}: list exited {}\n{}",
            list.code,
            list.stderr
        );
        let listed: BTreeSet<String> = serde_json::from_str::<serde_json::Value>(&list.stdout)
            .unwrap_or_else(|e| panic!("{context}: list --json is not JSON ({e}): {}", list.stdout))
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect();
        for id in all.iter().filter(|id| Some(*id) != lost) {
            assert!(listed.contains(id), "{context}: undamaged entry {id} is not listed");
        }
        let is_chunk = victim.extension().is_some_and(|e| e == "age") && name != "view";
        if is_chunk && matches!(damage, Damage::BitFlip | Damage::Truncate) {
            c.chunk_damage += 1;
            assert_eq!(list.code, 11, "{context}: list reports a damaged chunk");
            assert!(
                list.stderr.contains(&name),
                "{context}: list names {name}: {}",
                list.stderr
            );
            c.named_by_list += 1;
        } else if chunk_gone {
            // Every deleted chunk is named, by the view or by its mark.
            c.chunks_deleted += 1;
            c.newer_than_view += usize::from(uncovered.contains(&victim));
            assert_eq!(
                list.code, 11,
                "{context}: list reports a deleted chunk: {}",
                list.stdout
            );
            assert!(
                list.stderr.contains(&name),
                "{context}: list names {name}: {}",
                list.stderr
            );
            c.named_by_list += 1;
        } else if list.code == 11 && list.stderr.contains(&name) {
            c.named_by_list += 1;
        }
        // After doctor, a second doctor says the same (damage is never "healed" silently);
        // checked every fifth round, to keep the CI time down.
        if round % 5 == 0 && !view_gone && !mark_gone && name != "view" {
            assert_eq!(
                d.run(&["doctor"]).code,
                11,
                "{context}: a second doctor still reports it"
            );
        }
    }
    let took = started.elapsed();
    for (damage, c) in &counts {
        eprintln!(
            "corruption: {damage:?}: {} rounds, named by doctor {}, named by list {} (of them {} damaged and {} deleted chunks, \
             which list must name; {} of the deleted chunks newer than the view), view deleted (nothing lost, rebuilt) {}, \
             mark deleted (nothing lost) {}, foreign files in marks/ {}, 0 panics",
            c.rounds,
            c.named_by_doctor,
            c.named_by_list,
            c.chunk_damage,
            c.chunks_deleted,
            c.newer_than_view,
            c.harmless,
            c.marks_deleted,
            c.in_marks
        );
        if *damage == Damage::Delete {
            assert_eq!(
                c.named_by_doctor, c.chunks_deleted,
                "every deleted chunk is named by doctor (100 %)"
            );
        }
    }
    eprintln!(
        "corruption: {rounds} rounds in {took:.1?} ({:.0} ms each), seed {seed}, 0 panics, every undamaged entry listed",
        took.as_millis() as f64 / rounds.max(1) as f64
    );
}
