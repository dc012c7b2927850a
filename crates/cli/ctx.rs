//! What every command needs: where the data is, the device opened, the clock.

use crate::args::Cli;
use crate::env;
use crate::error::{CliError, Result};
use crate::output::{Item, Printer};
use duo_journal::{JournalError, Read};
use duo_sync::{Home, Opened};
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

/// Both notebooks read.
pub struct Both {
    pub shared: Read,
    pub private: Option<Read>,
    /// Damaged files, described for people.
    pub damage: Vec<String>,
    /// This person, and their authenticator key: to check the entries claiming them.
    me: String,
    key: duo_sync::auth::PersonKey,
}

impl Ctx {
    pub fn open(cli: &Cli, printer: Printer) -> Result<Ctx> {
        let dev = Home::new(home_dir(cli)?).open()?;
        Ok(Ctx { printer, dev })
    }

    /// Read the shared space (and the private notebook when asked). Damaged files are
    /// returned in [`Both::damage`], not printed: read-only commands report them and exit 1,
    /// changing commands refuse.
    pub fn read(&self, private: bool) -> Result<Both> {
        let shared = self.dev.space.read()?;
        crate::cmd::devices::notices(self, &shared.view);
        let private = if private { Some(self.dev.private.read()?) } else { None };
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
        Ok(Both {
            shared,
            private,
            damage,
            me: self.dev.config.person_id.clone(),
            key: self.dev.person_key.clone(),
        })
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
            1
        }
    }
}

impl Both {
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

    /// An entry with what this device can say about its authorship (only for entries
    /// claiming this person: another person's words cannot be checked, by design).
    pub fn item<'a>(&self, entry: &'a duo_journal::Entry, private: bool) -> Item<'a> {
        let check = (entry.author == self.me).then(|| duo_journal::auth::check(self.key.bytes(), entry));
        Item { entry, private, check }
    }

    /// Every entry in scope.
    pub fn items(&self, shared: bool) -> Vec<Item<'_>> {
        let mut v: Vec<Item<'_>> = Vec::new();
        if shared {
            v.extend(self.shared.view.entries.values().map(|entry| self.item(entry, false)));
        }
        if let Some(p) = &self.private {
            v.extend(p.view.entries.values().map(|entry| self.item(entry, true)));
        }
        v
    }

    /// The entry an id prefix names, in either notebook.
    pub fn resolve(&self, prefix: &str) -> Result<Item<'_>> {
        if prefix.len() < 4 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CliError::usage(format!(
                "'{prefix}' is not an entry id: give at least 4 hex characters of it"
            )));
        }
        let prefix = prefix.to_ascii_lowercase();
        let mut hits: Vec<Item<'_>> = self
            .shared
            .view
            .matching(&prefix)
            .map(|entry| self.item(entry, false))
            .collect();
        if let Some(p) = &self.private {
            hits.extend(p.view.matching(&prefix).map(|entry| self.item(entry, true)));
        }
        match hits.len() {
            0 => Err(JournalError::NotFound { prefix }.into()),
            1 => Ok(hits[0]),
            _ => Err(JournalError::Ambiguous {
                prefix,
                candidates: hits.iter().take(10).map(|i| i.entry.id.clone()).collect(),
            }
            .into()),
        }
    }
}
