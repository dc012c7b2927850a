//! The merge model through the real `duo` binary: a few deterministic schedules of writes on
//! three real devices (Alice's laptop and phone, Bob's laptop), with offline periods and
//! real `duo sync` sessions between them, against the same oracle as the library's model
//! test (crates/journal/tests/model.rs): every write nothing superseded is, once everyone
//! has synced, in `duo journal list --json` on every device (or shown beside the other
//! versions, or offered to its author when the entry was deleted meanwhile), and nothing
//! superseded comes back. Alice's two devices show the same journal.

use crate::harness::{Device, pair_by_ticket};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const AL: usize = 0;
const AP: usize = 1;
const BL: usize = 2;
const NAMES: [&str; 3] = ["Alice's laptop", "Alice's phone", "Bob's laptop"];

fn person(d: usize) -> usize {
    usize::from(d == BL)
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Field {
    Body(String),
    Tag(String, String),
    Status(String),
    NoReplies(String),
    Deleted(String),
    Reply(String, String),
}

impl Field {
    fn entry(&self) -> &str {
        match self {
            Field::Body(e)
            | Field::Tag(e, _)
            | Field::Status(e)
            | Field::NoReplies(e)
            | Field::Deleted(e)
            | Field::Reply(e, _) => e,
        }
    }
}

#[derive(Debug)]
#[allow(dead_code)] // `step` and `device` are read in failure messages
struct Write {
    field: Field,
    value: String,
    step: usize,
    device: usize,
}

/// Every write and which writes each device had seen when it wrote (see model.rs).
#[derive(Default)]
struct Oracle {
    writes: Vec<Write>,
    superseded: BTreeSet<usize>,
    seen: [BTreeSet<usize>; 3],
    /// Per write: what its device had seen when it wrote.
    saw: Vec<BTreeSet<usize>>,
}

impl Oracle {
    /// A write supersedes the writes of its field its device had seen (a deletion writes
    /// the tombstone only: it hides the other fields without superseding them).
    fn write(&mut self, d: usize, step: usize, field: Field, value: &str) {
        for &w in &self.seen[d] {
            let old = &self.writes[w].field;
            if !matches!(old, Field::Reply(..)) && *old == field {
                self.superseded.insert(w);
            }
        }
        self.saw.push(self.seen[d].clone());
        self.writes.push(Write {
            field,
            value: value.to_string(),
            step,
            device: d,
        });
        self.seen[d].insert(self.writes.len() - 1);
    }

    fn synced(&mut self, a: usize, b: usize) {
        let all: BTreeSet<usize> = self.seen[a].union(&self.seen[b]).copied().collect();
        self.seen[a] = all.clone();
        self.seen[b] = all;
    }

    fn live(&self, field: &Field) -> BTreeSet<&str> {
        self.writes
            .iter()
            .enumerate()
            .filter(|(i, w)| w.field == *field && !self.superseded.contains(i))
            .map(|(_, w)| w.value.as_str())
            .collect()
    }

    /// Written to (body, tags, status, "no replies") by a write nothing superseded that a
    /// deletion had not seen.
    fn edited_meanwhile(&self, id: &str) -> bool {
        let deletions: Vec<usize> = (0..self.writes.len())
            .filter(|&i| self.writes[i].field == Field::Deleted(id.to_string()))
            .collect();
        self.writes.iter().enumerate().any(|(i, w)| {
            w.field.entry() == id
                && !matches!(w.field, Field::Deleted(_) | Field::Reply(..))
                && !self.superseded.contains(&i)
                && deletions.iter().any(|&d| !self.saw[d].contains(&i))
        })
    }

    fn of(&self, id: &str) -> Vec<&Write> {
        self.writes.iter().filter(|w| w.field.entry() == id).collect()
    }
}

/// A small deterministic generator (xorshift), so each schedule is the same on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

struct World {
    devs: Vec<Device>,
    oracle: Oracle,
    /// Entries by id: author person (0 Alice, 1 Bob) and kind.
    entries: BTreeMap<String, (usize, &'static str)>,
}

fn device(name: &str, label: &str) -> Device {
    let d = Device::blank();
    d.run(&["init", "--name", name, "--label", label]).ok();
    d
}

impl World {
    fn new() -> World {
        let devs = vec![
            device("Alice", "laptop"),
            device("Ali", "phone"),
            device("Bob", "laptop"),
        ];
        pair_by_ticket(&devs[AL], &devs[BL], &[]);
        pair_by_ticket(&devs[AL], &devs[AP], &["--own-device"]);
        let mut w = World {
            devs,
            oracle: Oracle::default(),
            entries: BTreeMap::new(),
        };
        w.sync(AL, BL);
        w.sync(AL, AP);
        w
    }

    /// A real `duo sync` between `a` and `b`: `b` online (`sync --watch`), `a` syncs.
    fn sync(&mut self, a: usize, b: usize) {
        let mut watch = self.devs[b].spawn(&["sync", "--watch"]);
        watch.wait_for("Online as", Duration::from_secs(30));
        let r = self.devs[a].run_within(&["sync", "--json"], Duration::from_secs(60));
        assert_eq!(r.code, 0, "sync {} with {}: {}", NAMES[a], NAMES[b], r.stderr);
        drop(watch);
        self.oracle.synced(a, b);
    }

    /// Entry ids `d` shows now, by the author's person, not deleted there.
    fn listed(&self, d: usize) -> Vec<Value> {
        self.devs[d].list(&[])
    }

    fn pick<'a>(&self, rng: &mut Rng, listed: &'a [Value], f: impl Fn(&Value) -> bool) -> Option<&'a Value> {
        let c: Vec<&Value> = listed.iter().filter(|e| f(e)).collect();
        // Half the time the first one: devices apart often change the same entry.
        let i = if rng.below(2) == 0 {
            0
        } else {
            rng.below(c.len().max(1))
        };
        (!c.is_empty()).then(|| c[i])
    }

    fn step(&mut self, rng: &mut Rng, step: usize) {
        let d = rng.below(3);
        let me = person(d);
        let listed = self.listed(d);
        let mine = |e: &Value| {
            self.entries.get(e["id"].as_str().unwrap()).map(|x| x.0) == Some(me)
                && e["prompt"].is_null()
                && e["authenticity"].as_str().is_none_or(|a| a == "authentic")
        };
        let text = format!("step {step} on {}", NAMES[d]);
        let tags = ["home", "money", "us"];
        // Mostly writes (edits and tags twice as often), a sync one step in eleven: long
        // offline periods.
        match [0, 2, 2, 3, 3, 4, 5, 6, 7, 7, 8][rng.below(11)] {
            0 => {
                let kind = if rng.below(3) == 0 { "boundary" } else { "reflection" };
                let tag = tags[rng.below(3)];
                let id = self.devs[d].add(&text, &["--kind", kind, "--tag", tag, "--json"]);
                let id = serde_json::from_str::<Value>(&id)
                    .map(|v| v["id"].as_str().unwrap().to_string())
                    .unwrap_or(id);
                self.oracle.write(d, step, Field::Body(id.clone()), &text);
                self.oracle.write(d, step, Field::Tag(id.clone(), tag.into()), "on");
                self.oracle.write(d, step, Field::NoReplies(id.clone()), "off");
                if kind == "boundary" {
                    self.oracle.write(d, step, Field::Status(id.clone()), "active");
                }
                self.entries.insert(id, (me, kind));
            }
            2 => {
                let Some(e) = self.pick(rng, &listed, mine) else { return };
                let id = e["id"].as_str().unwrap().to_string();
                self.devs[d].run(&["journal", "edit", &id, &text]).ok();
                self.oracle.write(d, step, Field::Body(id), &text);
            }
            3 => {
                let Some(e) = self.pick(rng, &listed, mine) else { return };
                let id = e["id"].as_str().unwrap().to_string();
                let before: BTreeSet<String> = e["tags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap().to_string())
                    .collect();
                let flip = tags[rng.below(3)].to_string();
                let mut after = before.clone();
                if !after.remove(&flip) {
                    after.insert(flip.clone());
                }
                let mut args = vec!["journal", "edit", id.as_str()];
                if after.is_empty() {
                    args.push("--clear-tags");
                }
                for t in &after {
                    args.extend(["--tag", t.as_str()]);
                }
                self.devs[d].run(&args).ok();
                let on = if after.contains(&flip) { "on" } else { "off" };
                self.oracle.write(d, step, Field::Tag(id, flip), on);
            }
            4 => {
                let Some(e) = self.pick(rng, &listed, |e| mine(e) && e["kind"] == "boundary") else {
                    return;
                };
                let id = e["id"].as_str().unwrap().to_string();
                let status = ["active", "revisit", "retired"][rng.below(3)];
                self.devs[d].run(&["journal", "edit", &id, "--status", status]).ok();
                self.oracle.write(d, step, Field::Status(id), status);
            }
            5 => {
                let Some(e) = self.pick(rng, &listed, mine) else { return };
                let id = e["id"].as_str().unwrap().to_string();
                let on = rng.below(2) == 0;
                let flag = if on { "--no-replies" } else { "--allow-replies" };
                self.devs[d].run(&["journal", "edit", &id, flag]).ok();
                self.oracle
                    .write(d, step, Field::NoReplies(id), if on { "on" } else { "off" });
            }
            6 => {
                let Some(e) = self.pick(rng, &listed, mine) else { return };
                let id = e["id"].as_str().unwrap().to_string();
                self.devs[d].run(&["journal", "delete", &id, "--yes"]).ok();
                self.oracle.write(d, step, Field::Deleted(id), "on");
            }
            7 => {
                let theirs = |e: &Value| {
                    self.entries.get(e["id"].as_str().unwrap()).map(|x| x.0) == Some(1 - me) && e["no_replies"] == false
                };
                let Some(e) = self.pick(rng, &listed, theirs) else {
                    return;
                };
                let id = e["id"].as_str().unwrap().to_string();
                let r = if rng.below(2) == 0 {
                    self.devs[d].run(&["journal", "ack", &id, "heard", "--json"])
                } else {
                    self.devs[d].run(&["journal", "reflect", &id, &text, "--json"])
                };
                let reply = r.json()["id"].as_str().unwrap().to_string();
                self.oracle.write(d, step, Field::Reply(id, reply), "on");
            }
            _ => {
                // Syncs go where devices paired: Alice's laptop with either of the others.
                let other = [AP, BL][rng.below(2)];
                if rng.below(2) == 0 {
                    self.sync(AL, other);
                } else {
                    self.sync(other, AL);
                }
            }
        }
    }

    fn sync_everyone(&mut self) {
        for (a, b) in [(AP, AL), (BL, AL), (AL, AP), (AL, BL)] {
            self.sync(a, b);
        }
    }

    fn check(&self, seed: u64) {
        let lists: Vec<Vec<Value>> = (0..3).map(|d| self.listed(d)).collect();
        assert_eq!(
            lists[AL], lists[AP],
            "seed {seed}: Alice's two devices show different journals"
        );
        let by_id = |d: usize| -> BTreeMap<String, &Value> {
            lists[d]
                .iter()
                .map(|e| (e["id"].as_str().unwrap().to_string(), e))
                .collect()
        };
        let (alice, bob) = (by_id(AL), by_id(BL));
        for (id, (author, _)) in &self.entries {
            let writes = self.oracle.of(id);
            let deleted = writes.iter().any(|w| matches!(w.field, Field::Deleted(_)));
            let why = format!("seed {seed}, entry {id}: writes {writes:#?}");
            if deleted {
                let edited_meanwhile = self.oracle.edited_meanwhile(id);
                assert!(
                    !alice.contains_key(id) && !bob.contains_key(id),
                    "deleted, yet listed: {why}"
                );
                // `journal list` offers a restore to the author alone, and only when it was
                // edited while being deleted.
                let restore = format!("duo journal restore {}", &id[..8]);
                for d in [AL, AP, BL] {
                    let out = self.devs[d].run(&["journal", "list"]);
                    let offered = out.stdout.contains(&restore) || out.stderr.contains(&restore);
                    let want = edited_meanwhile && person(d) == *author;
                    assert_eq!(offered, want, "{}: restore offered: {why}", NAMES[d]);
                }
                continue;
            }
            for (reader, list) in [("Alice", &alice), ("Bob", &bob)] {
                let e = list
                    .get(id)
                    .unwrap_or_else(|| panic!("{reader} does not see it: {why}"));
                if (reader == "Bob") == (*author == 1) {
                    // An honest device's own entries check out after any merge.
                    assert_eq!(e["authenticity"], "authentic", "{reader}'s own entry: {why}");
                }
                let strs = |v: &Value| -> BTreeSet<String> {
                    v.as_array()
                        .unwrap()
                        .iter()
                        .map(|t| t.as_str().unwrap().to_string())
                        .collect()
                };
                let mut bodies = strs(&e["conflicts"]);
                bodies.insert(e["body"].as_str().unwrap().to_string());
                let want: BTreeSet<String> = self
                    .oracle
                    .live(&Field::Body(id.clone()))
                    .into_iter()
                    .map(String::from)
                    .collect();
                assert_eq!(bodies, want, "{reader}: body versions: {why}");
                let tags = strs(&e["tags"]);
                for t in ["home", "money", "us"] {
                    let live = self.oracle.live(&Field::Tag(id.clone(), t.into()));
                    assert_eq!(tags.contains(t), live.contains("on"), "{reader}: tag {t}: {why}");
                }
                let live = self.oracle.live(&Field::Status(id.clone()));
                if !live.is_empty() {
                    let mut shown: BTreeSet<String> = e["status"].as_str().into_iter().map(String::from).collect();
                    if let Some(more) = e.get("status_versions").and_then(Value::as_array) {
                        shown.extend(more.iter().filter_map(Value::as_str).map(String::from));
                    }
                    let want: BTreeSet<String> = live.into_iter().map(String::from).collect();
                    assert_eq!(shown, want, "{reader}: statuses: {why}");
                }
                let no_replies = self.oracle.live(&Field::NoReplies(id.clone())).contains("on");
                assert_eq!(e["no_replies"], no_replies, "{reader}: no replies: {why}");
                let mut replies: BTreeSet<String> = BTreeSet::new();
                for k in ["acks", "reflections"] {
                    replies.extend(
                        e[k].as_array()
                            .unwrap()
                            .iter()
                            .map(|a| a["id"].as_str().unwrap().to_string()),
                    );
                }
                if no_replies {
                    assert!(
                        replies.is_empty(),
                        "{reader}: replies shown under a no-replies entry: {why}"
                    );
                }
                for (i, w) in self.oracle.writes.iter().enumerate() {
                    let Field::Reply(entry, r) = &w.field else { continue };
                    // A reply written while "no replies" was on (its device had not seen the
                    // marker) never appears; any other reply to a shown entry does.
                    let while_off = !self.oracle.writes.iter().enumerate().any(|(j, n)| {
                        n.field == Field::NoReplies(id.clone()) && n.value == "on" && !self.oracle.saw[i].contains(&j)
                    });
                    if entry == id && !no_replies && while_off {
                        assert!(replies.contains(r), "{reader}: reply {r} is not shown: {why}");
                    }
                }
            }
        }
    }
}

fn schedule(seed: u64, steps: usize) {
    let mut w = World::new();
    let mut rng = Rng(seed);
    // A shared start: each person's entries on every device, then the random steps.
    for (step, (d, kind)) in [(AL, "boundary"), (AL, "reflection"), (BL, "reflection")]
        .into_iter()
        .enumerate()
    {
        let text = format!("start {step}");
        let id = w.devs[d].add(&text, &["--kind", kind, "--tag", "us", "--json"]);
        let id = serde_json::from_str::<Value>(&id).map_or(id.clone(), |v| v["id"].as_str().unwrap().to_string());
        w.oracle.write(d, step, Field::Body(id.clone()), &text);
        w.oracle.write(d, step, Field::Tag(id.clone(), "us".into()), "on");
        w.oracle.write(d, step, Field::NoReplies(id.clone()), "off");
        if kind == "boundary" {
            w.oracle.write(d, step, Field::Status(id.clone()), "active");
        }
        w.entries.insert(id, (person(d), kind));
    }
    w.sync_everyone();
    for step in 3..3 + steps {
        w.step(&mut rng, step);
    }
    w.sync_everyone();
    w.check(seed);
    let o = &w.oracle;
    let fields: BTreeSet<&Field> = o.writes.iter().map(|x| &x.field).collect();
    let concurrent = fields.iter().filter(|f| o.live(f).len() > 1).count();
    let deleted: Vec<&String> = w
        .entries
        .keys()
        .filter(|id| o.of(id).iter().any(|x| matches!(x.field, Field::Deleted(_))))
        .collect();
    let restorable = deleted.iter().filter(|id| o.edited_meanwhile(id)).count();
    eprintln!(
        "model seed {seed:#x}: {} writes on {} entries, {} superseded, {concurrent} fields with concurrent values kept, {} deleted ({restorable} edited meanwhile)",
        o.writes.len(),
        w.entries.len(),
        o.superseded.len(),
        deleted.len()
    );
}

#[test]
fn model_schedule_seed_1() {
    schedule(0x9e37_79b9_7f4a_7c15, 30);
}

#[test]
fn model_schedule_seed_2() {
    schedule(0xd1b5_4a32_d192_ed03, 30);
}

#[test]
fn model_schedule_seed_3() {
    schedule(0x2545_f491_4f6c_dd1d, 30);
}
