//! `duo bundle export` and `duo bundle import`: sync through a file.

use super::backup::write_file;
use crate::args::{BundleExportArgs, BundleImportArgs};
use crate::ctx::{Ctx, now};
use crate::error::{CliError, Result};
use crate::exit;
use crate::output::count;
use duo_device::bundle::{self, BundleError, Target};

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
    Ok(exit::OK)
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
            .map(|d| format!("{}'s {}", view.shown_name(&d.person), crate::output::label(&d.label)))
            .unwrap_or_else(|| got.exporter.clone());
        ctx.printer.info(format!(
            "Imported a bundle from {who}: {} new, {} in the shared space now.",
            count(got.new_changes, "change", "changes"),
            count(got.entries_after, "entry", "entries"),
        ));
    }
    Ok(exit::OK)
}

fn bundle_error(e: BundleError) -> CliError {
    let (code, hint) = match &e {
        BundleError::NotForThisDevice => (
            exit::FILE_KEY,
            "nothing was imported. Either it was made before this device was paired (ask for a new one), or this device was revoked in this space and no bundle is made for it any more (`duo sync` on it says so)",
        ),
        BundleError::Tampered(_) => (exit::FILE_DAMAGED, "nothing was imported; ask for a new bundle"),
        BundleError::BadSignature => (
            exit::FORGED,
            "nothing was imported; someone may have changed this file: ask for a new bundle over a channel you trust",
        ),
        BundleError::WrongSpace { .. } => (
            exit::OTHER_SPACE,
            "nothing was imported; this bundle is for another journal",
        ),
        BundleError::UnknownDevice { .. } => (
            exit::UNKNOWN_DEVICE,
            "nothing was imported; `duo devices` lists the devices whose bundles this device takes",
        ),
        BundleError::Revoked { .. } => (
            exit::REVOKED,
            "nothing was imported; a revoked device's bundles are refused",
        ),
        BundleError::MissingHistory(_) => (
            exit::MISSING_HISTORY,
            "ask for a complete bundle: `duo bundle export --all FILE` on the other device",
        ),
        BundleError::NoPeers => (exit::FAILURE, "pair with another device first (`duo pair`)"),
        BundleError::NoSuchDevice(_) => (
            exit::USAGE,
            "`duo devices` lists the devices of this space with their ids",
        ),
        BundleError::OwnBundle => (
            exit::REFUSED_BUNDLE,
            "nothing was imported; import it on the other device",
        ),
        BundleError::TooNew(_) => (exit::REFUSED_BUNDLE, "nothing was imported; update duo on this device"),
        BundleError::Sync(_) => (exit::FAILURE, ""),
    };
    // The reason the library found (an age or format error) goes under the headline.
    let mut err = match e {
        BundleError::Sync(s) => CliError::from(s),
        BundleError::Tampered(why) => {
            CliError::new("this is not a duo bundle, or it was damaged or changed after it was made").cause(why)
        }
        other => CliError::new(other),
    };
    err.code = code;
    if !hint.is_empty() {
        err = err.hint(hint);
    }
    err
}
