//! What every command needs: where the data is, the device opened, the clock.

use crate::args::Cli;
use crate::env;
use crate::error::{CliError, Result};
use crate::output::{Item, Printer};
use duo_device::{Home, Opened};
use duo_journal::{JournalError, Read, View};
use std::path::PathBuf;

/// The data directory: `--home`, then `DUO_HOME`, then the platform's data directory.
pub fn home_dir(cli: &Cli) -> Result<PathBuf> {
    let given = match (&cli.home, env::var(env::HOME)) {
        (Some(h), _) => Some((h.clone(), "--home")),
        (None, Some(h)) => Some((PathBuf::from(h), "DUO_HOME")),
        (None, None) => None,
    };
    if let Some((dir, from)) = given {
        if dir.exists() && !dir.is_dir() {
            return Err(CliError::usage(format!(
                "{from} names {}, which is a file, not a directory",
                dir.display()
            ))
            .hint(format!(
                "point {from} at the directory where duo keeps (or should keep) its data; duo creates it if it is missing"
            )));
        }
        return Ok(dir);
    }
    directories::ProjectDirs::from("", "", "duo")
        .map(|d| d.data_dir().to_path_buf())
        .ok_or_else(|| {
            CliError::new("cannot find a data directory for duo (no home directory?)")
                .hint("pass --home DIR or set DUO_HOME")
        })
}

/// Now, in milliseconds since the epoch. `DUO_NOW` (RFC 3339) fixes the clock in test builds.
pub fn now() -> Result<i64> {
    match env::test_knob(env::NOW) {
        Some(s) => duo_journal::import::parse_time(&s)
            .ok_or_else(|| CliError::usage(format!("DUO_NOW='{s}' is not an RFC 3339 date-time"))),
        None => Ok(jiff::Timestamp::now().as_millisecond()),
    }
}

/// A command's view of the device.
pub struct Ctx {
    pub printer: Printer,
    pub dev: Opened,
}

/// Both notebooks read, and what checks this person's entries in them.
pub struct Both {
    pub shared: Read,
    pub private: Option<Read>,
    /// Damaged files, described for people.
    pub damage: Vec<String>,
    /// This person's keyring and this device's marks (see `duo_device::seals`): every entry
    /// shown goes through it.
    pub checker: duo_device::seals::Checker,
    /// The views are the stored views' heads alone ([`Ctx::read_heads`]): what they hold is
    /// read part by part ([`Both::each_view`]).
    heads: bool,
}

impl Ctx {
    pub fn open(cli: &Cli, printer: Printer) -> Result<Ctx> {
        let dev = Home::new(home_dir(cli)?).open()?;
        Ok(Ctx { printer, dev })
    }

    /// Read the shared space (and the private notebook when asked). Damaged files are
    /// returned in [`Both::damage`], not printed: read-only commands report them and exit 1,
    /// changing commands refuse. What the reads show verified is remembered
    /// (`duo_device::seals`).
    pub fn read(&self, private: bool) -> Result<Both> {
        let mut shared = self.dev.space.read()?;
        self.membership(&mut shared);
        let private = if private { Some(self.dev.private.read()?) } else { None };
        let mut checker = self.dev.checker();
        checker.observe(&shared.view, false);
        if let Some(p) = &private {
            checker.observe(&p.view, true);
        }
        if let Err(e) = checker.save(&self.dev) {
            self.printer.warn(format!(
                "could not note which versions of your entries this device has seen ({e})"
            ));
        }
        let both = Both::new(shared, private, checker);
        // With damaged files, what is missing is named as damage (not as a removal).
        if both.damage.is_empty() {
            both.removed_notice(&self.printer);
        }
        Ok(both)
    }

    /// [`Ctx::read`] of both notebooks for the entries whose id starts with `prefix` (what
    /// `journal show` needs): from the one part of each stored view that holds them
    /// (`Journal::read_part_of`), when this device has observed both views as they are, so
    /// there is nothing new to remember or to report (a removal of this person's entries was
    /// reported by the read that first saw it). Otherwise, a whole read.
    pub fn read_entry(&self, prefix: &str) -> Result<Both> {
        let prefix = prefix.to_ascii_lowercase();
        if prefix.len() >= 4
            && let Some(mut shared) = self.dev.space.read_part_of(&prefix)?
            && let Some(private) = self.dev.private.read_part_of(&prefix)?
        {
            let checker = self.dev.checker_for(&prefix);
            if checker.has_observed(&shared.view, false) && checker.has_observed(&private.view, true) {
                self.membership(&mut shared);
                return Ok(Both::new(shared, Some(private), checker));
            }
        }
        self.read(true)
    }

    /// [`Ctx::read`] of the heads of the stored views alone, for a reader of every entry
    /// that goes through them part by part ([`Both::each_view`]): when both views are
    /// current but for appended `adds/`, and this device has observed them as they are or
    /// as they were before those `adds/` (then what they add is observed now, alone).
    /// `None` otherwise: then a whole read.
    pub fn read_heads(&self, private: bool) -> Result<Option<Both>> {
        let Some(mut shared) = self.dev.space.current_head()? else {
            return Ok(None);
        };
        let private = match private {
            true => match self.dev.private.current_head()? {
                Some(p) => Some(p),
                None => return Ok(None),
            },
            false => None,
        };
        let mut checker = self.dev.checker();
        for (read, private) in [(Some(&shared), false), (private.as_ref(), true)] {
            let Some(read) = read else { continue };
            if checker.has_observed(&read.view, private) {
                continue;
            }
            // Only `adds/` appended since the view this device observed: observe them alone.
            match read.view.pending() {
                Some((pending, appended)) if checker.observe_appended(pending, &appended, &read.view, private) => {}
                _ => return Ok(None),
            }
        }
        if let Err(e) = checker.save(&self.dev) {
            self.printer.warn(format!(
                "could not note which versions of your entries this device has seen ({e})"
            ));
        }
        // The notices are said once the parts are read (`Both::each_view`).
        let _ = duo_device::membership::show(&self.dev, &mut shared.view);
        Ok(Some(Both {
            heads: true,
            ..Both::new(shared, private, checker)
        }))
    }

    /// Names and device records as their signatures show them (marked where another device
    /// changed them; without a readable trust file, as the document has them), and the
    /// notices about new devices.
    fn membership(&self, shared: &mut Read) {
        let _ = duo_device::membership::show(&self.dev, &mut shared.view);
        crate::cmd::devices::notices(self, &shared.view);
    }

    /// After a write to a notebook: remember the versions this device just sealed.
    pub fn remember_writes(&self, private: bool) {
        let journal = if private { &self.dev.private } else { &self.dev.space };
        let mut checker = self.dev.checker();
        let r = journal
            .read()
            .map_err(duo_device::SyncError::from)
            .and_then(|read| checker.remember(&self.dev, &read.view, private));
        if let Err(e) = r {
            self.printer.warn(format!(
                "could not note which versions of your entries this device has seen ({e})"
            ));
        }
    }

    /// [`Ctx::remember_writes`] for an append, from what it appended alone (`contents`, the
    /// new chunk's): neither the notebook nor the marks file is read, so an `add` costs
    /// the same at 100 entries and at 100k.
    pub fn remember_appended(&self, contents: Option<duo_journal::Contents>, private: bool) {
        let Some(contents) = contents else { return };
        let view = duo_journal::View::new(contents, Default::default());
        if let Err(e) = self.dev.checker_keys().note_appended(&self.dev, &view, private) {
            self.printer.warn(format!(
                "could not note which versions of your entries this device has seen ({e})"
            ));
        }
    }

    /// Print damage found by a read on stderr; returns the exit status it calls for.
    pub fn report(&self, both: &Both) -> i32 {
        for d in &both.damage {
            crate::output::stderr(&format!("error: damaged file in the {d}"));
        }
        if both.damage.is_empty() {
            0
        } else {
            crate::output::stderr("hint: everything else is still readable; run `duo doctor` for a full report");
            crate::exit::FILE_DAMAGED
        }
    }
}

impl Both {
    fn new(shared: Read, private: Option<Read>, checker: duo_device::seals::Checker) -> Both {
        let mut damage = Vec::new();
        for (label, read) in [("shared space", Some(&shared)), ("private notebook", private.as_ref())] {
            let Some(read) = read else { continue };
            // The view is a cache, rebuilt as we read; everything else is damage.
            damage.extend(
                read.problems
                    .iter()
                    .filter(|p| !p.is_view())
                    .map(|p| format!("{label}: {p}")),
            );
        }
        Both {
            shared,
            private,
            damage,
            checker,
            heads: false,
        }
    }

    /// Damage that makes changing a notebook unsafe: damaged or missing files of that
    /// notebook (a foreign file, or damage in the other notebook, does not).
    pub fn blocking(&self, private: bool) -> Vec<String> {
        let (label, read) = if private {
            ("private notebook", self.private.as_ref())
        } else {
            ("shared space", Some(&self.shared))
        };
        read.map(|r| {
            r.problems
                .iter()
                .filter(|p| !p.is_view() && !p.is_foreign())
                .map(|p| format!("{label}: {p}"))
                .collect()
        })
        .unwrap_or_default()
    }

    /// The view of a notebook.
    fn view(&self, private: bool) -> Option<&duo_journal::View> {
        if private {
            self.private.as_ref().map(|r| &r.view)
        } else {
            Some(&self.shared.view)
        }
    }

    /// A shown entry as an item: with what this device says about it, and what is shown
    /// under it (the reply rules of `duo_journal::Judge::replies`).
    fn item<'a>(&'a self, shown: duo_journal::Shown<'a>, private: bool) -> Item<'a> {
        self.item_in(&self.shared.view, shown, private)
    }

    /// [`Both::item`] of an entry of `view` (the shared space's whole view, or one part).
    fn item_in<'a>(&'a self, view: &'a duo_journal::View, shown: duo_journal::Shown<'a>, private: bool) -> Item<'a> {
        let replies = if private {
            duo_journal::Replies::default()
        } else {
            self.checker.judge(false).replies(view, &shown)
        };
        Item {
            entry: shown.entry,
            private,
            check: shown.check,
            replies,
        }
    }

    /// Every entry in scope, as readers show it.
    pub fn items(&self, shared: bool) -> Vec<Item<'_>> {
        let mut v: Vec<Item<'_>> = Vec::new();
        for private in [false, true] {
            if !private && !shared {
                continue;
            }
            if let Some(view) = self.view(private) {
                v.extend(self.items_in(view, private));
            }
        }
        v
    }

    /// What `each` makes of each notebook in scope (the shared space when `shared`, the
    /// private notebook when it was read), handed its view and whether it is the private
    /// one: the view's parts one by one when the notebooks were read as heads
    /// ([`Ctx::read_heads`]), so that no more than a few parts' entries are ever held (then
    /// `each` runs on several threads at once); otherwise the whole view. `None` when a
    /// part could not be read (then a whole read).
    ///
    /// Read part by part, once every part is read it says on stderr what [`Ctx::read`]
    /// says: the safety notices about devices, and entries of this person's that are gone
    /// (every read says it, until `duo doctor` is run). Nothing is said when a part could
    /// not be read: the whole read then says it.
    pub fn each_view<T: Send>(
        &self,
        ctx: &Ctx,
        shared: bool,
        each: &(dyn Fn(&View, bool) -> T + Sync),
    ) -> Result<Option<Vec<T>>> {
        let mut out = Vec::new();
        let mut removed = 0;
        for private in [false, true] {
            let Some(view) = self.view(private) else {
                continue;
            };
            let wanted = private || shared;
            if !self.heads {
                if wanted {
                    out.push(each(view, private));
                }
                continue;
            }
            let journal = if private { &ctx.dev.private } else { &ctx.dev.space };
            let judge = self.checker.judge(private);
            let parts = journal.each_part(view, &|part| {
                let mine: Vec<String> = judge.held_as_mine(part).into_iter().cloned().collect();
                (wanted.then(|| each(part, private)), mine)
            })?;
            let Some(parts) = parts else { return Ok(None) };
            let mut mine = std::collections::HashSet::new();
            for (made, held) in parts {
                out.extend(made);
                mine.extend(held);
            }
            removed += judge.removed_from(|id| mine.contains(id)).len();
        }
        if self.heads {
            crate::cmd::devices::notices(ctx, &self.shared.view);
            if self.damage.is_empty() {
                removed_notice(&ctx.printer, removed);
            }
        }
        Ok(Some(out))
    }

    /// The entries of `view` (a notebook's whole view or a part of it) as readers show them.
    pub fn items_in<'a>(&'a self, view: &'a View, private: bool) -> Vec<Item<'a>> {
        self.items_of(view, private, &|_| true)
    }

    /// [`Both::items_in`] of the entries `wanted` keeps (filtered before they are checked).
    pub fn items_of<'a>(
        &'a self,
        view: &'a View,
        private: bool,
        wanted: &(dyn Fn(&duo_journal::Entry) -> bool + Sync),
    ) -> Vec<Item<'a>> {
        (self.checker.judge(private).shown_of(view, wanted).into_iter())
            .map(|s| self.item_in(view, s, private))
            .collect()
    }

    /// The entry an id prefix names, in either notebook.
    pub fn resolve(&self, prefix: &str) -> Result<Item<'_>> {
        if prefix.len() < 4 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CliError::usage(format!(
                "'{prefix}' is not an entry id: give at least 4 hex characters of it"
            )));
        }
        let prefix = prefix.to_ascii_lowercase();
        let mut hits: Vec<Item<'_>> = Vec::new();
        for private in [false, true] {
            if let Some(view) = self.view(private) {
                hits.extend(
                    self.checker
                        .judge(private)
                        .matching(view, &prefix)
                        .into_iter()
                        .map(|s| self.item(s, private)),
                );
            }
        }
        match hits.len() {
            0 => Err(JournalError::NotFound { prefix }.into()),
            1 => Ok(hits.remove(0)),
            _ => Err(JournalError::Ambiguous {
                prefix,
                candidates: hits.iter().take(10).map(|i| i.entry.id.clone()).collect(),
            }
            .into()),
        }
    }

    /// Ids of the entries of the shared space that claim you but are not yours.
    pub fn not_yours(&self) -> Vec<String> {
        self.checker
            .judge(false)
            .shown(&self.shared.view)
            .into_iter()
            .filter(|s| s.check.is_some_and(duo_journal::Authenticity::is_not_yours))
            .map(|s| s.entry.id.clone())
            .collect()
    }

    /// Say on stderr that entries under your name are not yours (commands that show only
    /// some entries, like `today` and `checkin`, say it too).
    pub fn warn_not_yours(&self, p: &Printer) {
        warn_entries(
            p,
            self.not_yours().len(),
            "under your name",
            "not written by you (altered or invented on another device)",
        );
    }

    /// Your entries that a device not yours removed, or gave another author: said once per
    /// read, on stderr (`duo doctor` lists them).
    fn removed_notice(&self, p: &Printer) {
        let n: usize = [false, true]
            .into_iter()
            .filter_map(|private| self.view(private).map(|v| self.checker.judge(private).removed(v).len()))
            .sum();
        removed_notice(p, n);
    }
}

/// "N entries of yours were removed…", when N > 0.
fn removed_notice(p: &Printer, n: usize) {
    warn_entries(
        p,
        n,
        "of yours",
        "removed or given another author by a device that is not yours",
    );
}

/// "N entries <whose> were <what>; `duo doctor` lists them", when N > 0.
fn warn_entries(p: &Printer, n: usize, whose: &str, what: &str) {
    if n > 0 {
        p.warn(format!(
            "{} {whose} {} {what}; `duo doctor` lists {}",
            crate::output::count(n, "entry", "entries"),
            if n == 1 { "was" } else { "were" },
            if n == 1 { "it" } else { "them" }
        ));
    }
}
