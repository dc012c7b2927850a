//! Everything the user sees: data on stdout (human or `--json`), diagnostics on stderr.
//!
//! Nothing from another device reaches the terminal as a control sequence. Every write
//! goes through [`safe`] (the [`Printer`], [`stderr`], [`ask`]): a control or bidi
//! character left in the text is shown escaped (see `duo_journal::text`), so a command
//! that forgets to escape a field still prints nothing a terminal acts on. Fields are
//! escaped where they are put into text too: names, labels and tags on one line, marked
//! when not valid ([`duo_journal::text::field`]), and entry text keeping its newlines.
//! `--json` output is JSON with every such character as a `\u` escape.

use duo_journal::Authenticity;
use duo_journal::text::{self, Field};
use duo_journal::{Entry, View};
use serde::Serialize;
use std::borrow::Cow;
use std::io::{IsTerminal, Write};

/// The style codes duo itself writes when colour is on (reset, bold, dim): the only ESC
/// sequences that ever reach a terminal.
const STYLES: [&str; 3] = ["\x1b[0m", "\x1b[1m", "\x1b[2m"];

/// `text` as it may reach a terminal: every control or bidi character escaped except
/// newline and tab, and, with `styles`, duo's own [`STYLES`].
pub fn safe(text: &str, styles: bool) -> Cow<'_, str> {
    if !styles || !text.contains('\x1b') {
        return text::body(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(at) = rest.find('\x1b') {
        out.push_str(&text::body(&rest[..at]));
        let from = &rest[at..];
        match STYLES.iter().find(|s| from.starts_with(**s)) {
            Some(style) => {
                out.push_str(style);
                rest = &from[style.len()..];
            }
            None => {
                out.push_str(&text::line("\x1b"));
                rest = &from[1..];
            }
        }
    }
    out.push_str(&text::body(rest));
    Cow::Owned(out)
}

/// A notice on stderr (always shown), e.g. a new device in the space.
pub fn notice(msg: &str) {
    stderr(&format!("notice: {msg}"));
}

/// A line on stderr, through [`safe`]: for what has no [`Printer`] (errors, damage).
pub fn stderr(line: &str) {
    eprintln!("{}", safe(line, false));
}

/// A question on stderr, through [`safe`], waiting on the same line for the answer.
pub fn ask(question: &str) {
    eprint!("{} [y/N] ", safe(question, false));
    let _ = std::io::stderr().flush();
}

/// A prompt on stderr (no newline), through [`safe`].
pub fn prompt(text: &str) {
    eprint!("{}", safe(text, false));
    let _ = std::io::stderr().flush();
}

/// A person's name, device label or tag as shown (escaped, marked when not valid).
pub fn name(s: &str) -> Cow<'_, str> {
    text::field(Field::Name, s)
}

/// A device label as shown (escaped, marked when not valid).
pub fn label(s: &str) -> Cow<'_, str> {
    text::field(Field::Label, s)
}

/// The first `n` characters of an id, escaped.
pub fn short(id: &str, n: usize) -> Cow<'_, str> {
    text::short(id, n)
}

/// Writes data to stdout and messages to stderr. A closed stdout (`duo journal list | head`)
/// is not an error: duo just stops.
pub struct Printer {
    pub json: bool,
    pub quiet: bool,
    color: bool,
}

impl Printer {
    pub fn new(json: bool, quiet: bool) -> Self {
        let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal();
        Self { json, quiet, color }
    }

    /// A progress bar on stderr for a long transfer (hidden when quiet or not a terminal).
    pub fn transfer_bar(&self) -> indicatif::ProgressBar {
        let bar = indicatif::ProgressBar::new(0).with_style(
            indicatif::ProgressStyle::with_template("receiving the space {bytes}/{total_bytes} {wide_bar}")
                .expect("valid template"),
        );
        if self.quiet {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        bar
    }

    /// What a sync calls as a whole document arrives: moves `bar` (from
    /// [`Printer::transfer_bar`]).
    pub fn transfer_progress(bar: &indicatif::ProgressBar) -> impl Fn(u64, u64) + Send + Sync + '_ {
        move |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        }
    }

    /// One block of data on stdout (through [`safe`]), ending in a newline; the error of
    /// a closed stdout is the caller's.
    pub fn try_data(&self, text: &str) -> std::io::Result<()> {
        let text = safe(text, self.color);
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        if !text.ends_with('\n') {
            out.write_all(b"\n")?;
        }
        out.flush()
    }

    /// One block of data on stdout (through [`safe`]).
    pub fn data(&self, text: &str) {
        if let Err(e) = self.try_data(text) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: cannot write to stdout: {e}");
            std::process::exit(1);
        }
    }

    /// A JSON value on stdout; control and bidi characters in its strings are `\u`
    /// escapes (the same JSON).
    pub fn json_value<T: Serialize>(&self, value: &T) {
        let text = serde_json::to_string_pretty(value).expect("output serializes");
        self.data(&text::json(&text));
    }

    /// A JSON value on one line of stdout (a stream of events, as `duo sync --watch --json`).
    pub fn json_line<T: Serialize>(&self, value: &T) {
        self.data(&serde_json::to_string(value).expect("output serializes"));
    }

    /// A status message on stderr (silenced by --quiet).
    pub fn info(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            stderr(msg.as_ref());
        }
    }

    /// A warning on stderr (always shown).
    pub fn warn(&self, msg: impl AsRef<str>) {
        stderr(&format!("warning: {}", msg.as_ref()));
    }

    /// A notice on stderr (always shown), e.g. a new device in the space.
    pub fn notice(&self, msg: impl AsRef<str>) {
        notice(msg.as_ref());
    }

    pub fn bold(&self, s: &str) -> String {
        if self.color {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    pub fn dim(&self, s: &str) -> String {
        if self.color {
            format!("\x1b[2m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// "1 entry", "2 entries".
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What syncs did to this device's entries, counted from the changes themselves
/// ([`duo_journal::EntryChanges`]), summed over peers with `+`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EntryCounts {
    pub received: usize,
    pub edited: usize,
    pub deleted: usize,
}

impl From<&duo_journal::EntryChanges> for EntryCounts {
    fn from(c: &duo_journal::EntryChanges) -> Self {
        EntryCounts {
            received: c.added.len(),
            edited: c.edited.len(),
            deleted: c.deleted.len(),
        }
    }
}

impl std::ops::Add for EntryCounts {
    type Output = EntryCounts;
    fn add(self, o: EntryCounts) -> EntryCounts {
        EntryCounts {
            received: self.received + o.received,
            edited: self.edited + o.edited,
            deleted: self.deleted + o.deleted,
        }
    }
}

impl EntryCounts {
    /// "1 new entry", "2 new entries, 1 edit and 1 deletion"; "0 new entries" for none.
    pub fn text(&self) -> String {
        let mut parts = Vec::new();
        if self.received > 0 || (self.edited == 0 && self.deleted == 0) {
            parts.push(count(self.received, "new entry", "new entries"));
        }
        if self.edited > 0 {
            parts.push(count(self.edited, "edit", "edits"));
        }
        if self.deleted > 0 {
            parts.push(count(self.deleted, "deletion", "deletions"));
        }
        match parts.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
            _ => parts.join(""),
        }
    }

    /// Adds `entries_received`, `entries_edited` and `entries_deleted` to a JSON object.
    pub fn add_to(&self, object: &mut serde_json::Value) {
        if let Some(map) = object.as_object_mut() {
            map.insert("entries_received".into(), self.received.into());
            map.insert("entries_edited".into(), self.edited.into());
            map.insert("entries_deleted".into(), self.deleted.into());
        }
    }
}

/// RFC 3339 in UTC with `Z`.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| "invalid".into())
}

/// The system time zone, looked up once per process (listing 10k entries formats 10k dates).
static LOCAL_TZ: std::sync::LazyLock<jiff::tz::TimeZone> = std::sync::LazyLock::new(jiff::tz::TimeZone::system);

/// A short local date and time for people.
pub fn local_time(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => {
            let dt = LOCAL_TZ.to_datetime(t);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}",
                dt.year(),
                dt.month(),
                dt.day(),
                dt.hour(),
                dt.minute()
            )
        }
        Err(_) => "????-??-?? ??:??".into(),
    }
}

/// The stable JSON shape of an entry (docs/cli.md). Built from the library types, never
/// serialized from them directly, so the library can change without breaking scripts.
#[derive(Serialize)]
pub struct EntryJson<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub author: String,
    pub author_id: &'a str,
    pub device: &'a str,
    pub created_at: String,
    pub edited_at: String,
    pub body: &'a str,
    pub tags: &'a [String],
    pub private: bool,
    pub status: Option<&'a str>,
    /// A boundary's statuses set on two devices at once, when they differ (absent otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub status_versions: Vec<&'static str>,
    pub conflicts: &'a [String],
    /// The author asked for no replies ("just hold this").
    pub no_replies: bool,
    /// The prompt this entry answers (its id), if it is an answer.
    pub prompt: Option<&'a str>,
    /// That prompt's question, when this duo knows the prompt (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_text: Option<&'static str>,
    /// Acknowledgements the reader chose to send (never receipts).
    pub acks: Vec<AckJson>,
    /// Reflections on the entry, each with the author's answers.
    pub reflections: Vec<ReflectionJson>,
    /// Only on the author's own devices: whether an authenticator of theirs covers the
    /// entry as shown (`null` for entries written before authenticators or edited on two
    /// devices at once and not settled). Absent for the partner's entries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentic: Option<Option<bool>>,
    /// With `authentic`: `authentic`, `unsealed`, `unsettled` or `not_yours`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authenticity: Option<&'static str>,
    /// With `not_yours`: why (`altered`, `unsealed`, `rolled_back`, `undeleted`,
    /// `replies_reopened`, `retired_key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_yours: Option<&'static str>,
    /// `author` and/or `tags` when the author's name or a tag is not valid (control or
    /// bidi characters, empty, too long); absent when all are.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_valid: Vec<&'static str>,
}

/// An acknowledgement in [`EntryJson::acks`].
#[derive(Serialize)]
pub struct AckJson {
    pub id: String,
    pub by: String,
    pub by_id: String,
    pub kind: &'static str,
    pub at: String,
    /// `by` when that name is not valid.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_valid: Vec<&'static str>,
}

/// An answer to a reflection: `confirm` or `correct` (with text).
#[derive(Serialize)]
pub struct AnswerJson {
    pub id: String,
    pub kind: &'static str,
    pub text: Option<String>,
    pub at: String,
}

/// A reflection in [`EntryJson::reflections`].
#[derive(Serialize)]
pub struct ReflectionJson {
    pub id: String,
    pub by: String,
    pub by_id: String,
    pub text: String,
    pub at: String,
    pub answers: Vec<AnswerJson>,
    /// `by` when that name is not valid.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_valid: Vec<&'static str>,
}

/// An entry together with where it lives, what this device says about it, and what is
/// shown under it (built by `ctx::Both`, through the same rules for every reader).
#[derive(Clone)]
pub struct Item<'a> {
    pub entry: &'a Entry,
    pub private: bool,
    /// For this person's own entries: what their seals say.
    pub check: Option<Authenticity>,
    /// What is shown under the entry (nothing for a private one).
    pub replies: duo_journal::Replies<'a>,
}

impl<'a> Item<'a> {
    pub fn json(&self, view: &View) -> EntryJson<'a> {
        let e = self.entry;
        let replies = &self.replies;
        let author = view.person_name(&e.author);
        let not_valid = text::not_valid(
            std::iter::once(("author", author.as_str())).chain(e.tags.iter().map(|t| ("tags", t.as_str()))),
        );
        EntryJson {
            not_valid,
            id: &e.id,
            kind: e.kind.as_str(),
            author,
            author_id: &e.author,
            device: &e.device,
            created_at: rfc3339(e.created_at),
            edited_at: rfc3339(e.edited_at),
            body: &e.body,
            tags: &e.tags,
            private: self.private,
            status: e.status.map(|s| s.as_str()),
            status_versions: e.status_versions().into_iter().map(|s| s.as_str()).collect(),
            conflicts: &e.conflicts,
            no_replies: e.no_replies,
            prompt: e.prompt.as_deref(),
            prompt_text: e
                .prompt
                .as_deref()
                .and_then(duo_journal::prompts::prompt)
                .map(|p| p.text),
            acks: replies
                .acks
                .iter()
                .map(|a| AckJson {
                    not_valid: by_not_valid(view, &a.by),
                    id: a.id.clone(),
                    by: view.person_name(&a.by),
                    by_id: a.by.clone(),
                    kind: a.kind.as_str(),
                    at: rfc3339(a.at),
                })
                .collect(),
            reflections: replies
                .reflections
                .iter()
                .map(|r| ReflectionJson {
                    not_valid: by_not_valid(view, &r.reflection.by),
                    id: r.reflection.id.clone(),
                    by: view.person_name(&r.reflection.by),
                    by_id: r.reflection.by.clone(),
                    text: r.reflection.text.clone().unwrap_or_default(),
                    at: rfc3339(r.reflection.at),
                    answers: r
                        .answers
                        .iter()
                        .map(|a| AnswerJson {
                            id: a.id.clone(),
                            kind: a.kind.as_str(),
                            text: a.text.clone(),
                            at: rfc3339(a.at),
                        })
                        .collect(),
                })
                .collect(),
            authentic: self.check.map(|c| match c {
                Authenticity::Authentic => Some(true),
                Authenticity::NotYours(_) => Some(false),
                Authenticity::Unsealed | Authenticity::Unsettled => None,
            }),
            authenticity: self.check.map(Authenticity::as_str),
            not_yours: match self.check {
                Some(Authenticity::NotYours(why)) => Some(why.as_str()),
                _ => None,
            },
        }
    }

    /// The one-line header of an entry, written into `out` (lists write thousands of these
    /// into one buffer, so no intermediate strings).
    pub fn write_header(&self, out: &mut String, view: &View, p: &Printer) {
        use std::fmt::Write;
        let e = self.entry;
        let _ = write!(
            out,
            "{}  {}  {}",
            p.bold(&short(&e.id, 8)),
            local_time(e.created_at),
            e.kind
        );
        if let Some(s) = e.status {
            let _ = write!(out, " ({s})");
        }
        let versions = e.status_versions();
        if !versions.is_empty() {
            let all: Vec<&str> = versions.iter().map(|s| s.as_str()).collect();
            let _ = write!(out, " [statuses: {}]", all.join(", "));
        }
        match view.persons.get(&e.author) {
            Some(person) => {
                out.push_str("  ");
                out.push_str(&name(&person.name));
                if let Some(note) = view.person_note(&e.author) {
                    let _ = write!(out, " ({note})");
                }
            }
            None => {
                let _ = write!(out, "  {}", view.shown_name(&e.author));
            }
        }
        for t in &e.tags {
            out.push_str("  #");
            out.push_str(&text::field(Field::Tag, t));
        }
        if self.private {
            let _ = write!(out, "  {}", p.dim("[private]"));
        }
        if !e.conflicts.is_empty() {
            let _ = write!(out, "  [{} versions]", e.conflicts.len() + 1);
        }
        if e.no_replies {
            let _ = write!(out, "  {}", p.dim("[no replies]"));
        }
        match self.check {
            Some(Authenticity::NotYours(_)) => out.push_str("  [NOT WRITTEN BY YOU]"),
            Some(Authenticity::Unsettled) => out.push_str("  [unconfirmed]"),
            _ => {}
        }
    }

    /// The one-line header of an entry.
    pub fn header(&self, view: &View, p: &Printer) -> String {
        let mut h = String::new();
        self.write_header(&mut h, view, p);
        h
    }

    /// Header plus the start of the body (at most 96 characters of its first line), for lists.
    pub fn write_summary(&self, out: &mut String, view: &View, p: &Printer) {
        self.write_header(out, view, p);
        out.push_str("\n    ");
        let body = &self.entry.body;
        let first = body.lines().next().unwrap_or("");
        match first.char_indices().nth(96) {
            Some((cut, _)) => {
                out.push_str(&text::body(&first[..cut]));
                out.push('…');
            }
            None => {
                out.push_str(&text::body(first));
                if first.len() < body.trim_end().len() {
                    out.push('…');
                }
            }
        }
        out.push('\n');
    }

    /// Header plus the start of the body, for lists.
    pub fn summary(&self, view: &View, p: &Printer) -> String {
        let mut s = String::new();
        self.write_summary(&mut s, view, p);
        s
    }

    /// Everything, for `show`.
    pub fn full(&self, view: &View, p: &Printer) -> String {
        let e = self.entry;
        let mut s = format!("{}\n", self.header(view, p));
        s.push_str(&p.dim(&format!("id {}", text::line(&e.id))));
        if e.edited_at != e.created_at {
            s.push_str(&p.dim(&format!("  edited {}", local_time(e.edited_at))));
        }
        s.push_str("\n\n");
        if let Some(line) = answers_line(e) {
            s.push_str(&p.dim(&line));
            s.push_str("\n\n");
        }
        if let Some(note) = self.check.and_then(authenticity_note) {
            s.push_str(&note);
            s.push_str("\n\n");
        }
        if e.conflicts.is_empty() {
            s.push_str(&text::body(&e.body));
            s.push('\n');
        } else {
            s.push_str(&format!(
                "This entry was edited on two devices at the same time; both versions are kept:\n\n[1]\n{}\n",
                text::body(&e.body)
            ));
            for (i, c) in e.conflicts.iter().enumerate() {
                s.push_str(&format!("\n[{}]\n{}\n", i + 2, text::body(c)));
            }
            let id = short(&e.id, 8);
            // Only the author can choose (an edit by anyone else is refused): the partner
            // is told whose choice it is, with no command.
            if self.check.is_some() {
                s.push_str(&format!(
                    "\nKeep one with `duo journal edit {id} --keep N`, or write a new text with `duo journal edit {id}`.\n"
                ));
            } else {
                let who = view.shown_name(&e.author);
                s.push_str(&format!(
                    "\n{who} has {} versions of this entry; only {who} can choose which one to keep.\n",
                    e.conflicts.len() + 1
                ));
            }
        }
        let versions = e.status_versions();
        if !versions.is_empty() {
            let all: Vec<&str> = versions.iter().map(|s| s.as_str()).collect();
            let (all, id) = (all.join(", "), short(&e.id, 8));
            if self.check.is_some() {
                s.push_str(&format!(
                    "\nIts status was changed on two devices at the same time: {all}. Settle it with `duo boundaries keep|revisit|retire {id}`.\n"
                ));
            } else {
                let who = view.shown_name(&e.author);
                s.push_str(&format!(
                    "\n{who} changed its status on two devices at the same time ({all}); only {who} can settle it.\n"
                ));
            }
        }
        if e.no_replies {
            s.push_str(&p.dim("\n(no replies — just holding this)\n"));
        }
        let replies = &self.replies;
        if !replies.acks.is_empty() {
            s.push('\n');
            for a in &replies.acks {
                let what = match a.kind {
                    duo_journal::ReplyKind::Heard => "heard you",
                    duo_journal::ReplyKind::Thanks => "thanks you for sharing this",
                    _ => "would like to talk about this",
                };
                s.push_str(&format!(
                    "{} {what}  {}\n",
                    view.shown_name(&a.by),
                    p.dim(&local_time(a.at))
                ));
            }
        }
        for r in &replies.reflections {
            s.push_str(&format!(
                "\n{} reflected {}  {}\n",
                view.shown_name(&r.reflection.by),
                p.dim(&format!("({})", short(&r.reflection.id, 8))),
                p.dim(&local_time(r.reflection.at))
            ));
            for line in r.reflection.text.as_deref().unwrap_or_default().lines() {
                s.push_str(&format!("  > {}\n", text::body(line)));
            }
            for a in &r.answers {
                let who = view.shown_name(&e.author);
                match a.kind {
                    duo_journal::ReplyKind::Confirm => s.push_str(&format!("  {who} confirmed: yes, that's it.\n")),
                    _ => {
                        s.push_str(&format!("  {who} gently corrected:\n"));
                        for line in a.text.as_deref().unwrap_or_default().lines() {
                            s.push_str(&format!("  > {}\n", text::body(line)));
                        }
                    }
                }
            }
        }
        s
    }
}

/// "Answering: …": the prompt an answer answers (its id and question), for `show` and
/// exports; `None` for an entry that answers no prompt.
pub fn answers_line(e: &Entry) -> Option<String> {
    let id = e.prompt.as_deref()?;
    Some(match duo_journal::prompts::prompt(id) {
        Some(p) => format!("Answering prompt {}: {}", text::line(id), text::line(p.text)),
        None => format!("Answering prompt {} (a prompt this duo does not know)", text::line(id)),
    })
}

/// `["by"]` when the name of person `id` is not valid, for `--json`.
fn by_not_valid(view: &View, id: &str) -> Vec<&'static str> {
    text::not_valid([("by", view.person_name(id).as_str())])
}

/// What `show` says about one of your own entries (nothing when it checks out).
fn authenticity_note(c: Authenticity) -> Option<String> {
    match c {
        Authenticity::Authentic => None,
        Authenticity::NotYours(why) => Some(format!(
            "WARNING: not written by you — {}. No device of yours wrote this entry as it reads now; `duo doctor` lists every such entry.",
            why.describe()
        )),
        Authenticity::Unsettled => Some(
            "Unconfirmed: sealed with a key your devices no longer seal with, or in an older format, and not sealed again since. Editing it seals it as it then reads."
                .into(),
        ),
        Authenticity::Unsealed => Some(
            "Written before authenticators: your devices can neither confirm nor refute that this text is yours. Editing it seals it as it then reads."
                .into(),
        ),
    }
}

/// "a reflection", "a boundary", "an appreciation".
pub fn a_kind(kind: duo_journal::Kind) -> String {
    let article = if kind.as_str().starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {kind}")
}

/// How long before `now` the time `then` was, in words a person says: "a few minutes ago",
/// "3 hours ago", "yesterday", "12 days ago", "4 months ago", "2 years ago".
pub fn time_ago(now_ms: i64, then_ms: i64) -> String {
    let mins = (now_ms - then_ms).max(0) / 60_000;
    let (hours, days) = (mins / 60, mins / (60 * 24));
    match () {
        _ if mins < 2 => "just now".to_string(),
        _ if mins < 60 => format!("{mins} minutes ago"),
        _ if hours < 2 => "an hour ago".to_string(),
        _ if hours < 24 => format!("{hours} hours ago"),
        _ if days < 2 => "yesterday".to_string(),
        _ if days < 60 => format!("{days} days ago"),
        _ if days < 730 => format!("{} months ago", days / 30),
        _ => format!("{} years ago", days / 365),
    }
}

/// The text with its first letter in upper case.
pub fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod words_tests {
    use super::*;

    #[test]
    fn kinds_take_the_right_article_and_times_read_as_people_say_them() {
        assert_eq!(a_kind(duo_journal::Kind::Appreciation), "an appreciation");
        assert_eq!(a_kind(duo_journal::Kind::Boundary), "a boundary");
        let min = 60_000;
        assert_eq!(time_ago(10 * min, 10 * min), "just now");
        assert_eq!(time_ago(10 * min, 5 * min), "5 minutes ago");
        assert_eq!(time_ago(200 * min, 0), "3 hours ago");
        assert_eq!(time_ago(30 * 60 * min, 0), "yesterday");
        assert_eq!(time_ago(20 * 24 * 60 * min, 0), "20 days ago");
        assert_eq!(time_ago(400 * 24 * 60 * min, 0), "13 months ago");
        assert_eq!(time_ago(1000 * 24 * 60 * min, 0), "2 years ago");
        assert_eq!(time_ago(0, 5 * min), "just now", "a time in the future is not negative");
        assert_eq!(capitalized("5 minutes ago"), "5 minutes ago");
        assert_eq!(capitalized("yesterday"), "Yesterday");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_duos_own_styles_get_through() {
        let p = Printer {
            json: false,
            quiet: false,
            color: true,
        };
        let text = format!("{} \x1b[8mhidden\x1b[0m\r\u{202e}\n\t{}", p.bold("id"), p.dim("x"));
        assert_eq!(
            safe(&text, true),
            "\x1b[1mid\x1b[0m \\u{1b}[8mhidden\x1b[0m\\u{d}\\u{202e}\n\t\x1b[2mx\x1b[0m"
        );
        assert_eq!(
            safe(&text, false),
            "\\u{1b}[1mid\\u{1b}[0m \\u{1b}[8mhidden\\u{1b}[0m\\u{d}\\u{202e}\n\t\\u{1b}[2mx\\u{1b}[0m"
        );
    }

    /// Every write to the terminal goes through this file (so through [`safe`]): no command
    /// prints on its own. The one exception is the key agent's one-word answer to the
    /// process that started it (a pipe, not a terminal).
    #[test]
    fn commands_print_only_through_this_module() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/cli");
        let mut stack = vec![root];
        let mut offenders = Vec::new();
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") || path.ends_with("output.rs") {
                    continue;
                }
                let source = std::fs::read_to_string(&path).unwrap();
                for (n, line) in source.lines().enumerate() {
                    let printing = [
                        "println!",
                        "print!(",
                        "eprint",
                        "stdout()",
                        "stderr().write",
                        "io::stderr()",
                    ]
                    .iter()
                    .any(|m| line.contains(m));
                    let allowed = path.ends_with("cmd/lock.rs")
                        && (line.contains("println!") || line.contains("stdout().flush()"));
                    if printing && !allowed && !line.contains("is_terminal()") {
                        offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                    }
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "print through output.rs (Printer, stderr, ask, prompt):\n{}",
            offenders.join("\n")
        );
    }
}
