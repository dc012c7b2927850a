//! The practices over real automerge documents in memory: two partners' replicas that
//! write concurrently and exchange whole documents.

use automerge::ROOT;
use automerge::transaction::Transactable;
use duo_journal::practice::{AnswerPlace, Practices};
use duo_journal::prompts::{self, Depth};
use duo_journal::{Ack, Device, Journal, Judge, Keyring, Kind, Marks, MemStorage, NewEntry, Person, ReplyKind};

struct Dev {
    space: Journal<MemStorage>,
    private: Journal<MemStorage>,
    me: String,
    device: String,
    keyring: Keyring,
    marks: Marks,
}

impl Dev {
    fn practices(&self) -> Practices<'_, MemStorage> {
        Practices::new(
            &self.space,
            &self.private,
            self.keyring.sealer(&self.device),
            Judge::new(&self.keyring, &self.marks),
        )
    }
}

fn person(id: &str) -> (Person, Device) {
    (
        Person {
            id: id.into(),
            name: id.to_uppercase(),
        },
        Device {
            id: format!("{id}-dev"),
            person: id.into(),
            label: "laptop".into(),
            added_at: 0,
        },
    )
}

fn dev(id: &str, first: Option<&Dev>) -> Dev {
    let (p, d) = person(id);
    let space = Journal::new(MemStorage::new());
    match first {
        None => space.create(|doc| doc.init("space", &p, &d)).unwrap(),
        Some(other) => {
            space.create(|doc| doc.init_schema()).unwrap();
            space.apply(&other.space.load().unwrap().save()).unwrap();
            space.update(|doc| doc.add_member(&p, &d)).unwrap();
        }
    }
    let private = Journal::new(MemStorage::new());
    private.create(|doc| doc.init_schema()).unwrap();
    Dev {
        space,
        private,
        me: id.into(),
        device: d.id,
        keyring: Keyring::for_tests(id),
        marks: Marks::default(),
    }
}

/// Two partners who have synced once.
fn couple() -> (Dev, Dev) {
    let a = dev("a", None);
    let b = dev("b", Some(&a));
    sync(&a, &b);
    (a, b)
}

fn sync(x: &Dev, y: &Dev) {
    y.space.apply(&x.space.load().unwrap().save()).unwrap();
    x.space.apply(&y.space.load().unwrap().save()).unwrap();
}

fn everything_in(j: &Journal<MemStorage>) -> String {
    j.storage()
        .snapshot()
        .values()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect()
}

#[test]
fn the_shared_depth_is_the_lower_setting_and_two_devices_of_one_person_keep_the_lower() {
    let (a, b) = couple();
    assert_eq!(
        a.practices().state().unwrap().shared_depth("a"),
        Depth::Light,
        "light until set"
    );
    a.practices().set_depth(Depth::Deep).unwrap();
    assert_eq!(
        a.practices().set_depth(Depth::Deep).unwrap(),
        Depth::Light,
        "b is still light"
    );
    b.practices().set_depth(Depth::Medium).unwrap();
    sync(&a, &b);
    for d in [&a, &b] {
        let s = d.practices().state().unwrap();
        assert_eq!(s.shared_depth(&d.me), Depth::Medium);
    }
    // a second device of b's sets deep while the first sets light, unaware of each other.
    let b2 = Dev {
        space: Journal::new(MemStorage::new()),
        private: Journal::new(MemStorage::new()),
        me: "b".into(),
        device: "b-phone".into(),
        keyring: Keyring::for_tests("b"),
        marks: Marks::default(),
    };
    b2.space.create(|doc| doc.init_schema()).unwrap();
    b2.private.create(|doc| doc.init_schema()).unwrap();
    sync(&b, &b2);
    b.practices().set_depth(Depth::Light).unwrap();
    b2.practices().set_depth(Depth::Deep).unwrap();
    sync(&b, &b2);
    sync(&a, &b);
    for d in [&a, &b, &b2] {
        let s = d.practices().state().unwrap();
        assert_eq!(s.my_depth("b"), Depth::Light, "the lower of two concurrent settings");
        assert_eq!(s.shared_depth(&d.me), Depth::Light);
    }
    for _ in 0..10 {
        assert_eq!(
            a.practices().offer(0, false).unwrap().prompt.unwrap().depth,
            Depth::Light
        );
    }
}

#[test]
fn a_together_answer_is_nowhere_in_the_partners_replica_until_both_answered() {
    let (a, b) = couple();
    let offer = a.practices().offer(1, true).unwrap();
    let prompt = offer.prompt.unwrap();
    sync(&a, &b);
    let (id, place) = a.practices().answer(prompt, "A-SECRET-ANSWER".into(), 2).unwrap();
    assert_eq!(place, AnswerPlace::KeptUntilBoth);
    assert!(
        !everything_in(&a.space).contains("A-SECRET-ANSWER"),
        "not in the shared space's bytes"
    );
    sync(&a, &b);
    assert!(!everything_in(&b.space).contains("A-SECRET-ANSWER"));
    assert!(
        b.practices().state().unwrap().has_answered(prompt.id, "a"),
        "only the marker travelled"
    );
    assert_eq!(a.practices().publish_ready().unwrap(), 0, "b has not answered");

    let (_, place) = b.practices().answer(prompt, "B answers".into(), 3).unwrap();
    assert_eq!(place, AnswerPlace::SharedWithPartners);
    sync(&a, &b);
    assert_eq!(a.practices().publish_ready().unwrap(), 1);
    assert_eq!(a.practices().publish_ready().unwrap(), 0, "once");
    sync(&a, &b);
    let shared = b.space.read().unwrap().view;
    let e = shared.entries.get(&id).expect("a's answer reached b");
    assert_eq!(
        (e.body.as_str(), e.kind, e.created_at),
        ("A-SECRET-ANSWER", Kind::Reflection, 2)
    );
    assert!(a.private.read().unwrap().view.entries.is_empty());
    let links = b.practices().state().unwrap().links;
    assert_eq!(
        links.values().filter(|p| *p == prompt.id).count(),
        2,
        "both answers link to the prompt"
    );
}

#[test]
fn a_waiting_answer_without_its_marker_gets_one() {
    // A crash between keeping the answer and writing the marker: the next command writes it.
    let (a, b) = couple();
    let prompt = a.practices().offer(1, true).unwrap().prompt.unwrap();
    a.practices().answer(prompt, "kept".into(), 2).unwrap();
    let key = format!("together/{}/a", prompt.id);
    a.space
        .update(|doc| {
            doc.automerge().delete(ROOT, key.as_str()).unwrap();
            Ok(())
        })
        .unwrap();
    assert!(!a.practices().state().unwrap().has_answered(prompt.id, "a"));
    assert_eq!(a.practices().publish_ready().unwrap(), 0);
    assert!(a.practices().state().unwrap().has_answered(prompt.id, "a"));
    sync(&a, &b);
    assert!(b.practices().state().unwrap().has_answered(prompt.id, "a"));
}

fn ack(d: &Dev, entry: &str, kind: ReplyKind, at: i64) {
    let a = Ack {
        id: duo_journal::new_id(),
        entry: entry.into(),
        by: d.me.clone(),
        device: d.device.clone(),
        kind,
        at,
        text: None,
        of: None,
        seals: Vec::new(),
    };
    d.space
        .append(|doc| doc.put_ack(&a, &d.keyring.sealer(&d.device)))
        .unwrap();
}

fn entry(d: &Dev, kind: Kind, body: &str, at: i64) -> String {
    let e = NewEntry {
        id: duo_journal::new_id(),
        kind,
        author: d.me.clone(),
        device: d.device.clone(),
        created_at: at,
        edited_at: at,
        body: body.into(),
        tags: vec![],
        status: None,
        no_replies: false,
        prompt: None,
    };
    d.space
        .add(std::slice::from_ref(&e), &d.keyring.sealer(&d.device))
        .unwrap();
    e.id
}

#[test]
fn the_agenda_holds_lets_talk_flags_and_boundaries_since_the_last_checkin() {
    let (a, b) = couple();
    let mine = entry(&a, Kind::Reflection, "mine, flagged by b", 10);
    let theirs = entry(&b, Kind::Reflection, "b's, flagged by a", 11);
    let other = entry(&b, Kind::Reflection, "b's, flagged by b", 12);
    let heard = entry(&a, Kind::Reflection, "only heard", 13);
    entry(&a, Kind::Boundary, "old boundary", 14);
    sync(&a, &b);
    ack(&b, &mine, ReplyKind::LetsTalk, 20);
    ack(&a, &theirs, ReplyKind::LetsTalk, 21);
    ack(&b, &other, ReplyKind::LetsTalk, 22);
    ack(&b, &heard, ReplyKind::Heard, 23);
    sync(&a, &b);
    let ag = a.practices().agenda(30).unwrap();
    let bodies: Vec<&str> = ag.lets_talk.iter().map(|(e, _)| e.body.as_str()).collect();
    assert_eq!(bodies, vec!["mine, flagged by b", "b's, flagged by a"]);
    assert_eq!(ag.boundaries.len(), 1);
    assert!(ag.offer.prompt.is_some());

    b.practices().checkin_done(40).unwrap();
    sync(&a, &b);
    ack(&b, &mine, ReplyKind::LetsTalk, 50);
    let new_boundary = entry(&a, Kind::Boundary, "new boundary", 45);
    sync(&a, &b);
    let ag = a.practices().agenda(60).unwrap();
    assert_eq!(ag.since, Some(40));
    assert_eq!(ag.lets_talk.len(), 1);
    assert_eq!(ag.lets_talk[0].0.id, mine);
    assert_eq!(ag.boundaries.len(), 1);
    assert_eq!(ag.boundaries[0].0.id, new_boundary);
}

/// "Let's talk" sent past a "no replies" (only a modified client can: `duo` refuses to send
/// it) is not on the agenda, as `list` does not show it; nor is it on an entry the author
/// then deleted.
#[test]
fn the_agenda_reads_flags_through_the_same_reply_rules_as_list() {
    let (a, b) = couple();
    let held = NewEntry {
        no_replies: true,
        id: duo_journal::new_id(),
        kind: Kind::Reflection,
        author: a.me.clone(),
        device: a.device.clone(),
        created_at: 10,
        edited_at: 10,
        body: "just hold this".into(),
        tags: vec![],
        status: None,
        prompt: None,
    };
    a.space
        .add(std::slice::from_ref(&held), &a.keyring.sealer(&a.device))
        .unwrap();
    let gone = entry(&a, Kind::Reflection, "deleted later", 11);
    sync(&a, &b);
    ack(&b, &held.id, ReplyKind::LetsTalk, 20);
    ack(&b, &gone, ReplyKind::LetsTalk, 21);
    sync(&a, &b);
    assert_eq!(
        a.practices().agenda(30).unwrap().lets_talk.len(),
        1,
        "only the entry that takes replies"
    );
    a.space
        .update(|doc| doc.delete_entry(&gone, 40, &a.keyring.sealer(&a.device)))
        .unwrap();
    let ag = a.practices().agenda(50).unwrap();
    assert!(ag.lets_talk.is_empty(), "{:?}", ag.lets_talk);
}

#[test]
fn serving_history_never_enters_the_shared_space() {
    let (a, _b) = couple();
    let before = a.space.load().unwrap().save();
    let o = a.practices().offer(1, false).unwrap();
    a.practices().pass(o.prompt.unwrap(), 2).unwrap();
    assert_eq!(
        a.space.load().unwrap().save(),
        before,
        "offer and pass change nothing shared"
    );
    assert!(prompts::pack().len() >= 90);
}

#[test]
fn the_agenda_shows_no_together_prompt_deeper_than_the_shared_depth_or_paused() {
    let (a, b) = couple();
    a.practices().set_depth(Depth::Deep).unwrap();
    b.practices().set_depth(Depth::Deep).unwrap();
    sync(&a, &b);
    let mut asked = Vec::new();
    while asked.len() < 6 {
        let p = a.practices().offer(1, true).unwrap().prompt.unwrap();
        asked.push(p);
    }
    sync(&a, &b);
    let shown = |d: &Dev| -> Vec<&'static str> {
        d.practices()
            .agenda(5)
            .unwrap()
            .together
            .iter()
            .map(|(p, _)| p.id)
            .collect()
    };
    assert_eq!(shown(&b).len(), 6);
    b.practices().set_depth(Depth::Light).unwrap();
    let theme = asked[0].theme;
    b.practices().pause(prompts::theme(theme).unwrap(), 2).unwrap();
    sync(&a, &b);
    for d in [&a, &b] {
        let ids = shown(d);
        let expected: Vec<&str> = asked
            .iter()
            .filter(|p| p.depth == Depth::Light && p.theme != theme)
            .map(|p| p.id)
            .collect();
        let mut ids_sorted = ids.clone();
        ids_sorted.sort();
        let mut expected_sorted = expected.clone();
        expected_sorted.sort();
        assert_eq!(ids_sorted, expected_sorted);
        for _ in 0..5 {
            let o = d.practices().offer(3, false).unwrap().prompt.unwrap();
            assert!(o.depth == Depth::Light && o.theme != theme, "{o:?}");
        }
    }
}
