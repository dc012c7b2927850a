//! Everything the user sees: data on stdout (human or `--json`), diagnostics on stderr.

use duo_journal::Authenticity;
use duo_journal::{Entry, View};
use serde::Serialize;
use std::io::{IsTerminal, Write};

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

    /// One block of data on stdout.
    pub fn data(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let r = out.write_all(text.as_bytes()).and_then(|_| {
            if text.ends_with('\n') {
                Ok(())
            } else {
                out.write_all(b"\n")
            }
        });
        if let Err(e) = r.and_then(|_| out.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: cannot write to stdout: {e}");
            std::process::exit(1);
        }
    }

    /// A JSON value on stdout.
    pub fn json_value<T: Serialize>(&self, value: &T) {
        let text = serde_json::to_string_pretty(value).expect("output serializes");
        self.data(&text);
    }

    /// A status message on stderr (silenced by --quiet).
    pub fn info(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", msg.as_ref());
        }
    }

    /// A warning on stderr (always shown).
    pub fn warn(&self, msg: impl AsRef<str>) {
        eprintln!("warning: {}", msg.as_ref());
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
    pub conflicts: &'a [String],
    /// The author asked for no replies ("just hold this").
    pub no_replies: bool,
    /// The prompt this entry answers (its id), if it is an answer.
    pub prompt: Option<&'a str>,
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
    /// `replies_reopened`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_yours: Option<&'static str>,
}

/// An acknowledgement in [`EntryJson::acks`].
#[derive(Serialize)]
pub struct AckJson {
    pub id: String,
    pub by: String,
    pub by_id: String,
    pub kind: &'static str,
    pub at: String,
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
        EntryJson {
            id: &e.id,
            kind: e.kind.as_str(),
            author: view.person_name(&e.author),
            author_id: &e.author,
            device: &e.device,
            created_at: rfc3339(e.created_at),
            edited_at: rfc3339(e.edited_at),
            body: &e.body,
            tags: &e.tags,
            private: self.private,
            status: e.status.map(|s| s.as_str()),
            conflicts: &e.conflicts,
            no_replies: e.no_replies,
            prompt: e.prompt.as_deref(),
            acks: replies
                .acks
                .iter()
                .map(|a| AckJson {
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
        let _ = write!(out, "{}  {}  {}", p.bold(&e.id[..8]), local_time(e.created_at), e.kind);
        if let Some(s) = e.status {
            let _ = write!(out, " ({s})");
        }
        match view.persons.get(&e.author) {
            Some(person) => {
                out.push_str("  ");
                out.push_str(&person.name);
                if let Some(note) = view.person_note(&e.author) {
                    let _ = write!(out, " ({note})");
                }
            }
            None => {
                let _ = write!(out, "  {}", view.person_name(&e.author));
            }
        }
        for t in &e.tags {
            out.push_str("  #");
            out.push_str(t);
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
                out.push_str(&first[..cut]);
                out.push('…');
            }
            None => {
                out.push_str(first);
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
        s.push_str(&p.dim(&format!("id {}", e.id)));
        if e.edited_at != e.created_at {
            s.push_str(&p.dim(&format!("  edited {}", local_time(e.edited_at))));
        }
        s.push_str("\n\n");
        if let Some(note) = self.check.and_then(authenticity_note) {
            s.push_str(&note);
            s.push_str("\n\n");
        }
        if e.conflicts.is_empty() {
            s.push_str(&e.body);
            s.push('\n');
        } else {
            s.push_str(&format!(
                "This entry was edited on two devices at the same time; both versions are kept:\n\n[1]\n{}\n",
                e.body
            ));
            for (i, c) in e.conflicts.iter().enumerate() {
                s.push_str(&format!("\n[{}]\n{}\n", i + 2, c));
            }
            s.push_str(&format!(
                "\nKeep one with `duo journal edit {} --keep N`, or write a new text with `duo journal edit {}`.\n",
                &e.id[..8],
                &e.id[..8]
            ));
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
                    view.person_name(&a.by),
                    p.dim(&local_time(a.at))
                ));
            }
        }
        for r in &replies.reflections {
            s.push_str(&format!(
                "\n{} reflected {}  {}\n",
                view.person_name(&r.reflection.by),
                p.dim(&format!("({})", &r.reflection.id[..r.reflection.id.len().min(8)])),
                p.dim(&local_time(r.reflection.at))
            ));
            for line in r.reflection.text.as_deref().unwrap_or_default().lines() {
                s.push_str(&format!("  > {line}\n"));
            }
            for a in &r.answers {
                let who = view.person_name(&e.author);
                match a.kind {
                    duo_journal::ReplyKind::Confirm => s.push_str(&format!("  {who} confirmed: yes, that's it.\n")),
                    _ => {
                        s.push_str(&format!("  {who} gently corrected:\n"));
                        for line in a.text.as_deref().unwrap_or_default().lines() {
                            s.push_str(&format!("  > {line}\n"));
                        }
                    }
                }
            }
        }
        s
    }
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
