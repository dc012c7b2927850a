//! `duo backup` and `duo restore`: everything this device holds, in one encrypted file.

use super::lock::passphrase;
use crate::args::{BackupArgs, Cli, RestoreArgs};
use crate::ctx::{Ctx, home_dir, now};
use crate::env;
use crate::error::{CliError, Result};
use crate::exit;
use crate::output::{Printer, count};
use duo_device::backup::{self, BackupError, Key, Lock};
use std::path::{Path, PathBuf};

pub fn backup(ctx: &Ctx, a: &BackupArgs) -> Result<i32> {
    let lock = if !a.recipient.is_empty() || a.recipients_file.is_some() {
        Lock::Recipients(recipients(a)?)
    } else {
        let pass = passphrase(a.passphrase_file.as_deref(), true)?;
        // The backup holds the person key: as long a passphrase as a lock needs.
        duo_device::lock::check_passphrase(&pass)?;
        Lock::Passphrase(pass, work_factor()?)
    };
    let b = backup::make(&ctx.dev, now()?).map_err(backup_error)?;
    let entries = ctx.dev.space.read()?.view.entries.len();
    let private = ctx.dev.private.read()?.view.entries.len();
    let bytes = backup::seal(&backup::encode(&b), &lock).map_err(backup_error)?;
    let path = write_file(&a.file, &bytes)?;
    let to = match lock {
        Lock::Passphrase(..) => "passphrase",
        Lock::Recipients(_) => "recipients",
    };
    if ctx.printer.json {
        ctx.printer.json_value(&serde_json::json!({
            "file": path, "bytes": bytes.len(), "entries": entries,
            "private_entries": private, "encrypted_to": to,
        }));
    } else {
        ctx.printer.info(format!(
            "Backed up {} and {} to {} ({} bytes, encrypted to a {}). It holds your person key, so keep it as safe as this device (it holds no key of this device): `duo restore {}` on a new one.",
            count(entries, "shared entry", "shared entries"),
            count(private, "private note", "private notes"),
            path.display(),
            bytes.len(),
            if to == "passphrase" { "passphrase" } else { "list of age recipients" },
            path.display()
        ));
    }
    Ok(exit::OK)
}

pub fn restore(cli: &Cli, p: &Printer, a: &RestoreArgs) -> Result<i32> {
    let bytes =
        std::fs::read(&a.file).map_err(|e| CliError::new(format!("cannot read {}", a.file.display())).cause(e))?;
    let key = if backup::needs_passphrase(&bytes).map_err(backup_error)? {
        if !a.identity.is_empty() {
            return Err(backup_error(BackupError::NeedsPassphrase));
        }
        Key::Passphrase(passphrase(a.passphrase_file.as_deref(), false)?)
    } else {
        if a.identity.is_empty() {
            return Err(backup_error(BackupError::NeedsIdentity));
        }
        Key::Identities(identities(&a.identity)?)
    };
    let b = backup::open(&bytes, &key).map_err(backup_error)?;
    let home = duo_device::Home::new(home_dir(cli)?);
    let label = a.label.clone().unwrap_or_else(super::init::host_label);
    let (dev, r) = backup::restore(&home, &b, &label, now()?).map_err(backup_error)?;
    if p.json {
        p.json_value(&serde_json::json!({
            "merged": r.merged, "name": dev.config.name, "person_id": dev.config.person_id,
            "device_id": dev.config.device_id, "backup_device_id": b.device_id,
            "entries": r.entries, "private_entries": r.private_entries, "home": home.root(),
        }));
    } else if r.merged {
        p.info(format!(
            "Merged the backup into this device: now {} and {}.",
            count(r.entries, "shared entry", "shared entries"),
            count(r.private_entries, "private note", "private notes")
        ));
    } else {
        p.info(format!(
            "Restored {}'s journal ({}, {}) on a new device ('{}').\n\nTo sync again, pair it with one of your devices (`duo pair --own-device` there, `duo pair join` here),\nor, if none is left, with your partner's (`duo pair --partner-device` there): they see a new device of yours and confirm the words.",
            dev.config.name,
            count(r.entries, "shared entry", "shared entries"),
            count(r.private_entries, "private note", "private notes"),
            label
        ));
    }
    Ok(exit::OK)
}

fn backup_error(e: BackupError) -> CliError {
    // The device layer's own status (a short passphrase is a usage error).
    let e = match e {
        BackupError::Sync(s) => return CliError::from(s),
        other => other,
    };
    let code = match &e {
        BackupError::WrongPassphrase | BackupError::NotForIdentity => exit::FILE_KEY,
        BackupError::Damaged(_) => exit::FILE_DAMAGED,
        BackupError::OtherSpace { .. } | BackupError::OtherPerson { .. } => exit::OTHER_SPACE,
        BackupError::NeedsPassphrase | BackupError::NeedsIdentity => exit::USAGE,
        BackupError::TooNew(_) | BackupError::Sync(_) => exit::FAILURE,
    };
    let hint = match &e {
        BackupError::WrongPassphrase => Some("check the passphrase (it is case-sensitive) and try again"),
        BackupError::NotForIdentity => Some("give the identity file (-i FILE) of a recipient the backup was made for"),
        BackupError::Damaged(_) => Some("use another copy of the backup"),
        BackupError::TooNew(_) => Some("update duo on this device"),
        BackupError::OtherSpace { .. } | BackupError::OtherPerson { .. } => {
            Some("restore into a home that is not set up yet: --home DIR (or DUO_HOME) naming a new directory")
        }
        _ => None,
    };
    // The reason the library found (an age or format error) goes under the headline.
    let mut err = match e {
        BackupError::Damaged(why) => {
            CliError::new("this is not a duo backup, or it was damaged or changed after it was made").cause(why)
        }
        other => CliError::new(other),
    };
    err.code = code;
    if let Some(h) = hint {
        err = err.hint(h);
    }
    err
}

/// Write a file for the user: whole, durable, mode 0600 (a relative name is made explicit).
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let path = if path.parent().is_some_and(|p| p.as_os_str().is_empty()) {
        Path::new(".").join(path)
    } else {
        path.to_path_buf()
    };
    duo_device::write_durably(&path, bytes)
        .map_err(|e| CliError::new(format!("cannot write {}", path.display())).cause(e))?;
    Ok(path)
}

/// The test knob's scrypt work factor (test builds only; see `env::test_knob`).
fn work_factor() -> Result<Option<u8>> {
    match env::test_knob(env::BACKUP_WORK_FACTOR) {
        Some(s) => match s.parse::<u8>() {
            Ok(n) if (1..=20).contains(&n) => Ok(Some(n)),
            _ => Err(CliError::usage(format!(
                "{}='{s}' is not a number from 1 to 20",
                env::BACKUP_WORK_FACTOR
            ))),
        },
        None => Ok(None),
    }
}

fn recipients(a: &BackupArgs) -> Result<Vec<age::x25519::Recipient>> {
    let mut lines: Vec<String> = a.recipient.clone();
    if let Some(f) = &a.recipients_file {
        let text = std::fs::read_to_string(f)
            .map_err(|e| CliError::new(format!("cannot read the recipients file {}", f.display())).cause(e))?;
        lines.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from),
        );
    }
    if lines.is_empty() {
        return Err(CliError::usage("the recipients file lists no recipient"));
    }
    lines
        .iter()
        .map(|l| {
            l.parse::<age::x25519::Recipient>()
                .map_err(|e| CliError::usage(format!("'{l}' is not an age recipient (age1…): {e}")))
        })
        .collect()
}

fn identities(files: &[PathBuf]) -> Result<Vec<Box<dyn age::Identity>>> {
    let mut out: Vec<Box<dyn age::Identity>> = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| CliError::new(format!("cannot read the identity file {}", f.display())).cause(e))?;
        let mut found = false;
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let id: age::x25519::Identity = line.parse().map_err(|_| {
                CliError::usage(format!(
                    "{} is not an age identity file (AGE-SECRET-KEY-1…)",
                    f.display()
                ))
            })?;
            out.push(Box::new(id));
            found = true;
        }
        if !found {
            return Err(CliError::usage(format!("{} holds no age identity", f.display())));
        }
    }
    Ok(out)
}
