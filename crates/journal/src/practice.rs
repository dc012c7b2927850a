//! The practices on top of the journal: prompts by depth, answering together, paused
//! topics, `today` and the weekly check-in.
//!
//! What is shared lives in the shared space under its own root keys (design rule: anything
//! more than one replica could create gets a unique root key; nested maps only with it):
//! - `depth/<person>`: a person's comfort depth (`light`, `medium`, `deep`). The min rule
//!   needs both settings, so the setting travels; duo only ever shows the resulting level.
//! - `pause/<theme>/<person>`: a theme paused by that person (a timestamp); deleted on resume.
//! - `asked/<prompt>/<person>`: a prompt asked of both by that person.
//! - `together/<prompt>/<person>`: "has answered", with no content.
//! - `checkin/<id>`: `{by, at}`, a check-in that happened.
//! - answers are reflections whose entry map has a `prompt` field with the prompt id.
//!
//! What is personal stays in the private notebook, which never leaves the device:
//! `served/<prompt>` and `passed/<prompt>` (so nothing about what you skipped travels), and
//! together-answers waiting for the partner (entries with `together = "pending"`).

use crate::check::Judge;
use crate::listening::ReplyKind;
use crate::model::{Entry, Kind, NewEntry};
use crate::prompts::{self, Depth, Prompt};
use crate::schema::{
    ASKED, AT, BY, CHECKIN, DEPTH, ENTRY, PASSED, PAUSE, PERSON, PROMPT, SERVED, TOGETHER, TOGETHER_FIELD, entry_key,
};
use crate::seal::{Authenticity, Sealer};
use crate::{Journal, JournalError, SpaceDoc, Storage};
use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ROOT, ReadDoc, ScalarValue, ScalarValueRef as S, Value, ValueRef as V};
use std::collections::{BTreeMap, BTreeSet};

type Result<T> = std::result::Result<T, JournalError>;

/// The tag together-answers carry (in the private notebook while they wait, and once shared).
pub const TOGETHER_TAG: &str = "together";
/// What a together-answer's `together` field says while it waits in the private notebook.
const PENDING: &str = "pending";

fn am(e: automerge::AutomergeError) -> JournalError {
    JournalError::Document(e.to_string())
}

fn scalar_str(v: &V<'_>) -> Option<String> {
    match v {
        V::Scalar(S::Str(s)) => Some(s.to_string()),
        _ => None,
    }
}

fn scalar_int(v: &V<'_>) -> Option<i64> {
    match v {
        V::Scalar(S::Int(n) | S::Counter(n) | S::Timestamp(n)) => Some(*n),
        V::Scalar(S::Uint(n)) => Some(*n as i64),
        V::Scalar(S::F64(n)) => Some(*n as i64),
        _ => None,
    }
}

fn value_str(v: &Value<'_>) -> Option<String> {
    match v {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// A check-in that happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkin {
    pub id: String,
    pub by: String,
    pub at: i64,
}

/// The practices' part of the shared space, read out of the document.
#[derive(Clone, Debug, Default)]
pub struct State {
    /// The people of the space (their ids).
    pub persons: BTreeSet<String>,
    /// Each person's comfort depth (the lowest, if two of their devices set it at once).
    depths: BTreeMap<String, Depth>,
    /// Theme → the persons who paused it.
    pub pauses: BTreeMap<String, BTreeSet<String>>,
    /// Prompt → who asked it of both, when.
    pub asked: BTreeMap<String, BTreeMap<String, i64>>,
    /// Prompt → who has answered it (together prompts), when.
    pub answered: BTreeMap<String, BTreeMap<String, i64>>,
    pub checkins: Vec<Checkin>,
    /// Entry id → the prompt it answers.
    pub links: BTreeMap<String, String>,
}

fn read_map(doc: &automerge::AutoCommit, obj: &ObjId) -> BTreeMap<String, (Option<String>, Option<i64>)> {
    doc.map_range(obj, ..)
        .map(|i| (i.key.to_string(), (scalar_str(&i.value), scalar_int(&i.value))))
        .collect()
}

impl State {
    /// Read the practices out of a document (a shared space).
    pub fn read(doc: &mut SpaceDoc) -> State {
        let mut s = State { ..Default::default() };
        let am = doc.automerge();
        // Root key, its map (if it is one), its number (if it is one).
        type Item = (String, Option<ObjId>, Option<i64>);
        let items: Vec<Item> = am
            .map_range(ROOT, ..)
            .map(|i| {
                let obj = matches!(i.value, V::Object(ObjType::Map)).then(|| i.id());
                (i.key.to_string(), obj, scalar_int(&i.value))
            })
            .collect();
        for (key, obj, int) in items {
            if let (Some(person), Some(_)) = (key.strip_prefix(PERSON), &obj) {
                s.persons.insert(person.to_string());
            } else if let Some(person) = key.strip_prefix(DEPTH) {
                // Two devices of one person that set it at once: the lower setting wins.
                let lowest = am
                    .get_all(ROOT, key.as_str())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|(v, _)| value_str(v)?.parse::<Depth>().ok())
                    .min();
                if let Some(d) = lowest {
                    s.depths.insert(person.to_string(), d);
                }
            } else if let Some(rest) = key.strip_prefix(PAUSE) {
                if let Some((theme, person)) = rest.split_once('/') {
                    s.pauses
                        .entry(theme.to_string())
                        .or_default()
                        .insert(person.to_string());
                }
            } else if let Some(rest) = key.strip_prefix(ASKED) {
                if let (Some((prompt, person)), Some(at)) = (rest.split_once('/'), int) {
                    s.asked
                        .entry(prompt.to_string())
                        .or_default()
                        .insert(person.to_string(), at);
                }
            } else if let Some(rest) = key.strip_prefix(TOGETHER) {
                if let (Some((prompt, person)), Some(at)) = (rest.split_once('/'), int) {
                    s.answered
                        .entry(prompt.to_string())
                        .or_default()
                        .insert(person.to_string(), at);
                }
            } else if let (Some(id), Some(obj)) = (key.strip_prefix(CHECKIN), &obj) {
                let m = read_map(am, obj);
                if let (Some((Some(by), _)), Some((_, Some(at)))) = (m.get(BY), m.get(AT)) {
                    s.checkins.push(Checkin {
                        id: id.to_string(),
                        by: by.clone(),
                        at: *at,
                    });
                }
            } else if let (Some(id), Some(obj)) = (key.strip_prefix(ENTRY), &obj)
                && let Ok(Some((v, _))) = am.get(obj, PROMPT)
                && let Some(p) = value_str(&v)
            {
                s.links.insert(id.to_string(), p);
            }
        }
        s
    }

    /// A person's comfort depth: what they set, or light until they do.
    fn depth_of(&self, person: &str) -> Depth {
        self.depths.get(person).copied().unwrap_or(Depth::Light)
    }

    /// The shared level: the lower of the two people's settings (with no partner yet, yours).
    pub fn shared_depth(&self, me: &str) -> Depth {
        self.persons
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(me))
            .map(|p| self.depth_of(p))
            .min()
            .unwrap_or(Depth::Light)
    }

    /// Your own setting (shown only to you).
    pub fn my_depth(&self, me: &str) -> Depth {
        self.depth_of(me)
    }

    /// Themes someone paused.
    pub fn paused(&self) -> BTreeSet<&str> {
        self.pauses
            .iter()
            .filter(|(_, who)| !who.is_empty())
            .map(|(t, _)| t.as_str())
            .collect()
    }

    /// When the last check-in happened.
    pub fn last_checkin(&self) -> Option<i64> {
        self.checkins.iter().map(|c| c.at).max()
    }

    /// Has this person answered this together prompt?
    pub fn has_answered(&self, prompt: &str, person: &str) -> bool {
        self.answered.get(prompt).is_some_and(|m| m.contains_key(person))
    }

    /// Has anyone other than `me` answered this together prompt?
    fn partner_answered(&self, prompt: &str, me: &str) -> bool {
        self.answered.get(prompt).is_some_and(|m| m.keys().any(|p| p != me))
    }

    /// Together prompts not yet answered by everyone in the space.
    pub fn open_together(&self, me: &str) -> Vec<&'static Prompt> {
        let persons: BTreeSet<&str> = self
            .persons
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(me))
            .collect();
        self.asked
            .keys()
            .filter(|p| persons.iter().any(|who| !self.has_answered(p, who)))
            .filter_map(|p| prompts::prompt(p))
            .collect()
    }
}

/// What this device alone knows: prompts served and passed here, answers waiting.
#[derive(Clone, Debug, Default)]
pub struct Local {
    pub served: BTreeSet<String>,
    pub passed: BTreeSet<String>,
}

impl Local {
    fn read(doc: &mut SpaceDoc) -> Local {
        let mut l = Local::default();
        for i in doc.automerge().map_range(ROOT, ..) {
            if let Some(p) = i.key.strip_prefix(SERVED) {
                l.served.insert(p.to_string());
            } else if let Some(p) = i.key.strip_prefix(PASSED) {
                l.passed.insert(p.to_string());
            }
        }
        l
    }
}

fn put_at(doc: &mut SpaceDoc, key: String, at: i64) -> Result<()> {
    doc.automerge().put(ROOT, key, ScalarValue::Timestamp(at)).map_err(am)?;
    Ok(())
}

/// Write an answer: a reflection whose entry names its prompt (sealed with it); `pending`
/// marks a together-answer kept back until the partner has answered (in the private
/// notebook only).
fn add_answer(doc: &mut SpaceDoc, e: &NewEntry, pending: bool, by: &Sealer<'_>) -> Result<()> {
    doc.add_entry(e, by)?;
    if pending {
        let am_doc = doc.automerge();
        let Some((_, obj)) = am_doc.get(ROOT, entry_key(&e.id)).map_err(am)? else {
            return Err(JournalError::Document("the new entry is missing".into()));
        };
        am_doc.put(&obj, TOGETHER_FIELD, PENDING).map_err(am)?;
    }
    Ok(())
}

/// What `offer` found.
#[derive(Clone, Debug)]
pub struct Offer {
    /// `None` when every theme is paused.
    pub prompt: Option<&'static Prompt>,
    /// A prompt asked of both of you.
    pub together: bool,
    /// The shared level it was chosen at.
    pub shared: Depth,
    /// Every prompt at this depth had been offered here, so the pack started over.
    pub started_over: bool,
}

/// Where a together-answer went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnswerPlace {
    /// An ordinary answer, in the shared space.
    Shared,
    /// A together-answer kept on this device until your partner has answered too.
    KeptUntilBoth,
    /// A together-answer shared at once: your partner had already answered.
    SharedWithPartners,
}

/// A theme as one person sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    Open,
    /// You paused it (your partner may have too).
    PausedByYou,
    /// Your partner paused it: "paused for now", nothing more.
    PausedForNow,
}

impl Topic {
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Open => "open",
            Topic::PausedByYou => "paused by you",
            Topic::PausedForNow => "paused for now",
        }
    }
}

/// What `resume` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resumed {
    /// Your pause is lifted; the theme is open again, or still `PausedForNow` by your partner.
    Lifted(Topic),
    /// You had not paused it.
    NotPausedByYou(Topic),
}

/// The week's check-in agenda.
#[derive(Clone, Debug)]
pub struct Agenda {
    /// The last check-in, if any: everything below is newer.
    pub since: Option<i64>,
    /// Entries flagged "let's talk" (by you, or on your entries) since then, with what
    /// this device says about them (`None` for your partner's).
    pub lets_talk: Vec<(Entry, Option<Authenticity>)>,
    /// Your boundaries written or changed since then, with what this device says about them.
    pub boundaries: Vec<(Entry, Option<Authenticity>)>,
    /// Together prompts not yet answered by both, and whether you have answered.
    pub together: Vec<(&'static Prompt, bool)>,
    pub offer: Offer,
}

/// `today`: one appreciation from your partner, and a prompt.
#[derive(Clone, Debug)]
pub struct Today {
    /// One of your partner's appreciations (never an entry under your own name).
    pub appreciation: Option<Entry>,
    /// Set when the appreciation was written on this day in an earlier year (that year).
    pub on_this_day: Option<i16>,
    pub offer: Offer,
}

fn random_below(n: usize) -> usize {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("the operating system's random source is available");
    (u64::from_le_bytes(b) % n.max(1) as u64) as usize
}

/// One person's practices on one device: the shared space and the private notebook. Whatever
/// it writes is sealed by `by`; whatever it shows from the shared space goes through
/// `judge`, like every reader ([`crate::check`]).
pub struct Practices<'a, St: Storage> {
    space: &'a Journal<St>,
    private: &'a Journal<St>,
    by: Sealer<'a>,
    judge: Judge<'a>,
}

impl<'a, St: Storage> Practices<'a, St> {
    /// The practices of the person `by` writes for, on this device; `judge` checks the
    /// shared space with that person's keyring.
    pub fn new(space: &'a Journal<St>, private: &'a Journal<St>, by: Sealer<'a>, judge: Judge<'a>) -> Self {
        Practices {
            space,
            private,
            by,
            judge,
        }
    }
}

impl<St: Storage> Practices<'_, St> {
    fn me(&self) -> &str {
        self.by.person()
    }

    /// The shared state (loads the shared document).
    pub fn state(&self) -> Result<State> {
        let mut doc = self.space.load()?;
        Ok(State::read(&mut doc))
    }

    /// What this device has offered and passed.
    pub fn local(&self) -> Result<Local> {
        let mut doc = self.private.load()?;
        Ok(Local::read(&mut doc))
    }

    /// Set your comfort depth. Returns the new shared level.
    pub fn set_depth(&self, depth: Depth) -> Result<Depth> {
        let key = format!("{DEPTH}{}", self.me());
        self.space.update(|doc| {
            doc.put_anew(&ROOT, &key, depth.as_str())?;
            Ok(State::read(doc).shared_depth(self.me()))
        })
    }

    /// Choose a prompt: a together prompt waiting for your answer first; otherwise one not
    /// offered on this device yet, no deeper than the shared level, on no paused theme.
    /// `together` asks it of both of you.
    pub fn offer(&self, now: i64, together: bool) -> Result<Offer> {
        let state = self.state()?;
        self.offer_in(&state, now, together, !together)
    }

    fn offer_in(&self, state: &State, now: i64, together: bool, waiting_first: bool) -> Result<Offer> {
        let local = self.local()?;
        let shared = state.shared_depth(self.me());
        let paused = state.paused();
        let fits = |p: &Prompt| p.depth <= shared && !paused.contains(p.theme);
        if waiting_first {
            let waiting = state
                .asked
                .iter()
                .filter(|(p, who)| who.keys().any(|w| w != self.me()) && !state.has_answered(p, self.me()))
                .filter_map(|(p, _)| prompts::prompt(p))
                .find(|p| fits(p) && !local.passed.contains(p.id));
            if let Some(p) = waiting {
                return Ok(Offer {
                    prompt: Some(p),
                    together: true,
                    shared,
                    started_over: false,
                });
            }
        }
        let eligible: Vec<&'static Prompt> = prompts::pack().iter().filter(|p| fits(p)).collect();
        if eligible.is_empty() {
            return Ok(Offer {
                prompt: None,
                together: false,
                shared,
                started_over: false,
            });
        }
        let fresh: Vec<&'static Prompt> = eligible
            .iter()
            .copied()
            .filter(|p| !local.served.contains(p.id) && !state.asked.contains_key(p.id))
            .collect();
        let started_over = fresh.is_empty();
        let pool = if started_over { &eligible } else { &fresh };
        let chosen = pool[random_below(pool.len())];
        self.private.update(|doc| {
            if started_over {
                for p in &eligible {
                    let key = format!("{SERVED}{}", p.id);
                    if doc.automerge().get(ROOT, key.as_str()).map_err(am)?.is_some() {
                        doc.automerge().delete(ROOT, key.as_str()).map_err(am)?;
                    }
                }
            }
            put_at(doc, format!("{SERVED}{}", chosen.id), now)
        })?;
        if together {
            self.space
                .update(|doc| put_at(doc, format!("{ASKED}{}/{}", chosen.id, self.me()), now))?;
        }
        Ok(Offer {
            prompt: Some(chosen),
            together,
            shared,
            started_over,
        })
    }

    /// Pass on a prompt: noted on this device only, never shared, never a failure.
    pub fn pass(&self, prompt: &Prompt, now: i64) -> Result<()> {
        self.private.update(|doc| {
            put_at(doc, format!("{SERVED}{}", prompt.id), now)?;
            put_at(doc, format!("{PASSED}{}", prompt.id), now)
        })
    }

    /// Answer a prompt with a reflection linked to it. The answer to a together prompt stays
    /// in the private notebook until your partner has answered too.
    pub fn answer(&self, prompt: &Prompt, body: String, now: i64) -> Result<(String, AnswerPlace)> {
        let state = self.state()?;
        let together = state.asked.contains_key(prompt.id);
        let entry = NewEntry {
            id: crate::new_id(),
            kind: Kind::Reflection,
            author: self.me().to_string(),
            device: self.by.device().to_string(),
            created_at: now,
            edited_at: now,
            body,
            tags: if together {
                vec![TOGETHER_TAG.to_string()]
            } else {
                Vec::new()
            },
            status: None,
            no_replies: false,
            prompt: Some(prompt.id.to_string()),
        };
        let marker = format!("{TOGETHER}{}/{}", prompt.id, self.me());
        let place = if !together {
            self.space.update(|doc| add_answer(doc, &entry, false, &self.by))?;
            AnswerPlace::Shared
        } else if state.partner_answered(prompt.id, self.me()) {
            self.space.update(|doc| {
                add_answer(doc, &entry, false, &self.by)?;
                put_at(doc, marker, now)
            })?;
            AnswerPlace::SharedWithPartners
        } else {
            // The answer first (on this device only), then the marker: a crash in between
            // leaves a waiting answer whose marker `publish_ready` writes.
            self.private.update(|doc| add_answer(doc, &entry, true, &self.by))?;
            self.space.update(|doc| put_at(doc, marker, now))?;
            AnswerPlace::KeptUntilBoth
        };
        self.private
            .update(|doc| put_at(doc, format!("{SERVED}{}", prompt.id), now))?;
        Ok((entry.id, place))
    }

    /// Share the together-answers waiting on this device whose partner has answered too
    /// (and write any "answered" marker a crash left out). Cheap when nothing waits: one
    /// read of the private notebook's view. Returns how many answers were shared.
    pub fn publish_ready(&self) -> Result<usize> {
        let read = self.private.read()?;
        let candidates: Vec<&Entry> = read
            .view
            .entries
            .values()
            .filter(|e| e.author == self.me() && e.tags.iter().any(|t| t == TOGETHER_TAG))
            .collect();
        if candidates.is_empty() {
            return Ok(0);
        }
        let mut pdoc = self.private.load()?;
        let am_doc = pdoc.automerge();
        let mut pending: Vec<(&Entry, String)> = Vec::new();
        for e in candidates {
            let Ok(Some((_, obj))) = am_doc.get(ROOT, entry_key(&e.id)) else {
                continue;
            };
            let together = am_doc
                .get(&obj, TOGETHER_FIELD)
                .ok()
                .flatten()
                .and_then(|(v, _)| value_str(&v));
            if together.as_deref() == Some(PENDING)
                && let Some(p) = &e.prompt
            {
                pending.push((e, p.clone()));
            }
        }
        if pending.is_empty() {
            return Ok(0);
        }
        let state = self.state()?;
        let ready: Vec<&(&Entry, String)> = pending
            .iter()
            .filter(|(_, p)| state.partner_answered(p, self.me()))
            .collect();
        let unmarked: Vec<(&String, i64)> = pending
            .iter()
            .filter(|(_, p)| !state.has_answered(p, self.me()))
            .map(|(e, p)| (p, e.created_at))
            .collect();
        if ready.is_empty() && unmarked.is_empty() {
            return Ok(0);
        }
        self.space.update(|doc| {
            for (e, p) in &ready {
                if !doc.entry_ids().contains(&e.id) {
                    let entry = NewEntry {
                        id: e.id.clone(),
                        kind: e.kind,
                        author: e.author.clone(),
                        device: e.device.clone(),
                        created_at: e.created_at,
                        edited_at: e.edited_at,
                        body: e.body.clone(),
                        tags: e.tags.clone(),
                        status: None,
                        no_replies: false,
                        prompt: Some(p.clone()),
                    };
                    add_answer(doc, &entry, false, &self.by)?;
                }
            }
            for (p, at) in &unmarked {
                put_at(doc, format!("{TOGETHER}{p}/{}", self.me()), *at)?;
            }
            Ok(())
        })?;
        if !ready.is_empty() {
            self.private.update(|doc| {
                for (e, _) in &ready {
                    doc.delete_entry(&e.id, e.edited_at.max(e.created_at), &self.by)?;
                }
                Ok(())
            })?;
        }
        Ok(ready.len())
    }

    /// Every theme and where it stands for you.
    pub fn topics(&self) -> Result<Vec<(&'static str, Topic)>> {
        let state = self.state()?;
        Ok(prompts::THEMES
            .into_iter()
            .map(|t| (t, self.topic(&state, t)))
            .collect())
    }

    fn topic(&self, state: &State, theme: &str) -> Topic {
        match state.pauses.get(theme) {
            Some(who) if who.contains(self.me()) => Topic::PausedByYou,
            Some(who) if !who.is_empty() => Topic::PausedForNow,
            _ => Topic::Open,
        }
    }

    /// Pause a theme for both of you until you lift it. Returns false if you already had.
    pub fn pause(&self, theme: &'static str, now: i64) -> Result<bool> {
        let key = format!("{PAUSE}{theme}/{}", self.me());
        self.space.update(|doc| {
            if doc.automerge().get(ROOT, key.as_str()).map_err(am)?.is_some() {
                return Ok(false);
            }
            put_at(doc, key, now)?;
            Ok(true)
        })
    }

    /// Lift your pause of a theme (only yours: a partner's pause stays until they lift it).
    pub fn resume(&self, theme: &'static str) -> Result<Resumed> {
        let key = format!("{PAUSE}{theme}/{}", self.me());
        self.space.update(|doc| {
            let mine = doc.automerge().get(ROOT, key.as_str()).map_err(am)?.is_some();
            if mine {
                doc.automerge().delete(ROOT, key.as_str()).map_err(am)?;
            }
            let after = self.topic(&State::read(doc), theme);
            Ok(if mine {
                Resumed::Lifted(after)
            } else {
                Resumed::NotPausedByYou(after)
            })
        })
    }

    /// One appreciation from your partner (written on this day in an earlier year if there
    /// is one, otherwise any, at random) and a prompt at the shared depth. `day_of` gives
    /// the local (year, month, day) of a time.
    pub fn today(&self, now: i64, day_of: impl Fn(i64) -> (i16, i8, i8)) -> Result<Today> {
        let state = self.state()?;
        let view = self.space.read()?.view;
        // Through the same reader as `list`: what a tombstone hides stays hidden.
        let shown = self.judge.shown(&view);
        let from_partner: Vec<&Entry> = shown
            .iter()
            .map(|s| s.entry)
            .filter(|e| e.kind == Kind::Appreciation && e.author != self.me())
            .collect();
        let (year, month, day) = day_of(now);
        let on_this_day: Vec<&Entry> = from_partner
            .iter()
            .copied()
            .filter(|e| {
                let (y, m, d) = day_of(e.created_at);
                y < year && m == month && d == day
            })
            .collect();
        let (pool, anniversary) = if on_this_day.is_empty() {
            (from_partner, false)
        } else {
            (on_this_day, true)
        };
        let appreciation = (!pool.is_empty()).then(|| pool[random_below(pool.len())].clone());
        let on_this_day = appreciation
            .as_ref()
            .filter(|_| anniversary)
            .map(|e| day_of(e.created_at).0);
        let offer = self.offer_in(&state, now, false, true)?;
        Ok(Today {
            appreciation,
            on_this_day,
            offer,
        })
    }

    /// The check-in agenda: what is new since the last check-in, and one prompt. Flags are
    /// read through the same rules as `list` shows them ([`Judge::replies`]): none past a
    /// "no replies", none on an entry of yours that is not yours.
    pub fn agenda(&self, now: i64) -> Result<Agenda> {
        let state = self.state()?;
        let since = state.last_checkin();
        let after = |t: i64| since.is_none_or(|s| t > s);
        let view = self.space.read()?.view;
        let me = self.me();
        let mut lets_talk = Vec::new();
        let mut boundaries = Vec::new();
        for s in self.judge.shown(&view) {
            let e = s.entry;
            let flagged = self
                .judge
                .replies(&view, &s)
                .acks
                .iter()
                .any(|a| a.kind == ReplyKind::LetsTalk && after(a.at) && (a.by == me || e.author == me));
            if flagged {
                lets_talk.push((e.clone(), s.check));
            }
            if e.kind == Kind::Boundary && e.author == me && after(e.edited_at.max(e.created_at)) {
                boundaries.push((e.clone(), s.check));
            }
        }
        lets_talk.sort_by_key(|(e, _)| e.created_at);
        boundaries.sort_by_key(|(e, _)| e.created_at);
        // Like every prompt shown, none deeper than the shared depth or on a paused theme.
        let (shared, paused) = (state.shared_depth(self.me()), state.paused());
        let together = state
            .open_together(self.me())
            .into_iter()
            .filter(|p| p.depth <= shared && !paused.contains(p.theme))
            .map(|p| (p, state.has_answered(p.id, self.me())))
            .collect();
        let offer = self.offer_in(&state, now, false, false)?;
        Ok(Agenda {
            since,
            lets_talk,
            boundaries,
            together,
            offer,
        })
    }

    /// Record that the check-in happened (for both of you: who and when, nothing else).
    pub fn checkin_done(&self, now: i64) -> Result<String> {
        let id = crate::new_id();
        self.space.update(|doc| {
            let am_doc = doc.automerge();
            let o = am_doc
                .put_object(ROOT, format!("{CHECKIN}{id}"), ObjType::Map)
                .map_err(am)?;
            am_doc.put(&o, BY, self.me()).map_err(am)?;
            am_doc.put(&o, AT, ScalarValue::Timestamp(now)).map_err(am)?;
            Ok(())
        })?;
        Ok(id)
    }
}
