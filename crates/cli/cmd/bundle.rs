//! `duo bundle export` and `duo bundle import`: sync through a file.

use super::backup::{EXIT_DAMAGED, EXIT_LOCKED, EXIT_OTHER_SPACE, write_file};
use crate::args::{BundleExportArgs, BundleImportArgs};
use crate::ctx::{Ctx, now};
use crate::error::{CliError, Result};
use crate::output::count;
use duo_sync::bundle::{self, BundleError, Target};

/// Exit status: the bundle's signature does not match (forged or changed content).
pub const EXIT_FORGED: i32 = 12;
/// Exit status: made by a device that is not part of this space.
pub const EXIT_UNKNOWN_DEVICE: i32 = 14;
/// Exit status: made by a revoked device.
pub const EXIT_REVOKED: i32 = 15;
/// Exit status: it builds on changes this device does not have.
pub const EXIT_MISSING_HISTORY: i32 = 16;

pub fn export(ctx: &Ctx, a: &BundleExportArgs) -> Result<i32> {
    let target = if a.all {
        Target::All
    } else {
        Target::Missing(a.for_device.clone())
    };
    let made = bundle::export(&ctx.dev, &target, now()?).map_err(bundle_error)?;
    let path = write_file(&a.file, &made.bytes)?;
    if ctx.printer.json {
        ctx.printer.json_value(&serde_json::json!({
            "file": path, "bytes": made.bytes.len(), "changes": made.changes,
            "whole": made.whole, "recipients": made.recipients,
        }));
    } else {
        ctx.printer.info(format!(
            "Wrote {} ({}, {} bytes) to {}, readable by {} of this space. On the other device: duo bundle import FILE",
            if made.whole {
                "the whole space"
            } else {
                "what the other device lacks"
            },
            count(made.changes, "change", "changes"),
            made.bytes.len(),
            path.display(),
            count(made.recipients.len(), "other device", "other devices"),
        ));
    }
    Ok(0)
}

pub fn import(ctx: &Ctx, a: &BundleImportArgs) -> Result<i32> {
    let bytes =
        std::fs::read(&a.file).map_err(|e| CliError::new(format!("cannot read {}", a.file.display())).cause(e))?;
    let got = bundle::import(&ctx.dev, &bytes).map_err(bundle_error)?;
    if ctx.printer.json {
        ctx.printer.json_value(&serde_json::json!({
            "exporter": got.exporter, "new_changes": got.new_changes,
            "entries_before": got.entries_before, "entries_after": got.entries_after,
        }));
    } else {
        let view = ctx.dev.space.read()?.view;
        let who = view
            .devices
            .get(&got.exporter)
            .map(|d| format!("{}'s {}", view.person_name(&d.person), d.label))
            .unwrap_or_else(|| got.exporter.clone());
        ctx.printer.info(format!(
            "Imported a bundle from {who}: {} new, {} in the shared space now.",
            count(got.new_changes, "change", "changes"),
            count(got.entries_after, "entry", "entries"),
        ));
    }
    Ok(0)
}

fn bundle_error(e: BundleError) -> CliError {
    let (code, hint) = match &e {
        BundleError::NotForThisDevice => (
            EXIT_LOCKED,
            "it was made for other devices: ask for a new one made after this device was paired",
        ),
        BundleError::Tampered(_) => (EXIT_DAMAGED, "nothing was imported; ask for a new bundle"),
        BundleError::BadSignature => (
            EXIT_FORGED,
            "nothing was imported; someone may have changed this file: ask for a new bundle over a channel you trust",
        ),
        BundleError::WrongSpace { .. } => (
            EXIT_OTHER_SPACE,
            "nothing was imported; this bundle is for another journal",
        ),
        BundleError::UnknownDevice { .. } => (
            EXIT_UNKNOWN_DEVICE,
            "nothing was imported; `duo devices` lists the devices whose bundles this device takes",
        ),
        BundleError::Revoked { .. } => (
            EXIT_REVOKED,
            "nothing was imported; a revoked device's bundles are refused",
        ),
        BundleError::MissingHistory(_) => (
            EXIT_MISSING_HISTORY,
            "ask for a complete bundle: `duo bundle export --all FILE` on the other device",
        ),
        BundleError::NoPeers => (1, "pair with another device first (`duo pair`)"),
        BundleError::NoSuchDevice(_) => (2, "`duo devices` lists the devices of this space with their ids"),
        BundleError::OwnBundle => (1, "import it on the other device"),
        BundleError::TooNew(_) => (1, "update duo on this device"),
        BundleError::Sync(_) => (1, ""),
    };
    let mut err = match e {
        BundleError::Sync(s) => CliError::from(s),
        other => CliError::new(other),
    };
    err.code = code;
    if !hint.is_empty() {
        err = err.hint(hint);
    }
    err
}
