//! `duo leave`: leave the shared space on this device, on your own, offline, silently.

use crate::args::{Cli, ExportArgs, ExportFormat, LeaveArgs, Scope};
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::exit;
use crate::output::local_time;
use duo_device::membership;
use std::io::IsTerminal;

pub fn run(_cli: &Cli, ctx: Ctx, a: &LeaveArgs) -> Result<i32> {
    let p = &ctx.printer;
    let root = ctx.dev.home.root().to_path_buf();
    let question = if a.wipe {
        format!(
            "Leave, and remove everything duo keeps on this device ({}): the shared space, your private notebook, keys and caches? This cannot be undone{}.",
            root.display(),
            if a.export.is_some() {
                " (the export is written first)"
            } else {
                ""
            }
        )
    } else {
        "Leave the shared space on this device? It stops syncing with every device, yours and your partner's, and stays readable here as an archive. Nobody is told.".to_string()
    };
    if !a.yes {
        if !std::io::stdin().is_terminal() {
            return Err(CliError::usage("leaving needs confirmation").hint("pass --yes to leave without asking"));
        }
        crate::output::ask(&question);
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            p.info("Nothing changed.");
            return Ok(exit::FAILURE);
        }
    }
    if let Some(dir) = &a.export {
        std::fs::create_dir_all(dir).map_err(|e| CliError::new(format!("cannot create {}", dir.display())).cause(e))?;
        let args = ExportArgs {
            format: ExportFormat::Md,
            output: Some(dir.join("duo-export.md")),
            signed: false,
            scope: Scope {
                private: false,
                all: true,
            },
        };
        if super::export::run(&ctx, &args)? != 0 {
            return Err(CliError::new("the export met damaged files, so duo did not leave yet")
                .hint("`duo doctor` shows them; run `duo leave` again once you have what you need"));
        }
    }
    // Take this device's endpoint: a running `duo sync --watch` steps aside, and when it
    // comes back it finds the device has left and stops.
    let online = duo_device::handoff::claim_exclusive(&root, || {
        p.info("Another duo command on this device is online; waiting for it…")
    })?;
    let now = crate::ctx::now()?;
    let view = ctx.dev.space.read()?.view;
    let me = ctx.dev.config.device_id.clone();
    let at = membership::update_trust(&ctx.dev, |t| {
        t.local_revoked
            .extend(view.devices.keys().filter(|d| **d != me).cloned());
        *t.left_at.get_or_insert(now)
    })?;
    // The background service must not keep this device online: disabled on leave, removed
    // on --wipe.
    if let Some(done) = super::service::on_leave(&root, a.wipe) {
        p.info(done);
    }
    if a.wipe {
        let dev = ctx.dev;
        drop(dev);
        std::fs::remove_dir_all(&root)
            .map_err(|e| CliError::new(format!("could not remove {}", root.display())).cause(e))?;
        drop(online);
        if p.json {
            p.json_value(&serde_json::json!({ "left": true, "wiped": true, "home": root }));
        } else {
            p.info(format!(
                "Removed {}: nothing of duo's is left on this device{}.",
                root.display(),
                if a.export.is_some() {
                    " except the export you asked for"
                } else {
                    ""
                }
            ));
        }
        return Ok(exit::OK);
    }
    drop(online);
    if p.json {
        p.json_value(&serde_json::json!({ "left": true, "wiped": false, "left_at": crate::output::rfc3339(at) }));
    } else {
        p.info(format!(
            "You left the shared space on this device ({}). It no longer syncs or answers any device; \
             your copy stays readable (`duo journal list`). Run `duo leave` on each of your other devices too; \
             `duo leave --wipe` removes everything here.",
            local_time(at)
        ));
    }
    Ok(exit::OK)
}

/// Refuse to change the shared space after this device left it (private notes still work).
pub fn refuse_if_left(ctx: &Ctx, private: bool) -> Result<()> {
    if private {
        return Ok(());
    }
    match membership::left_at(&ctx.dev)? {
        None => Ok(()),
        Some(at) => Err(CliError::new(format!(
            "you left the shared space on this device ({}), so it is kept as a read-only archive here",
            local_time(at)
        ))
        .hint("your private notebook still works: `duo journal add --private`")),
    }
}

/// Refuse to go online (sync, pair) after this device left the space.
pub fn refuse_network(ctx: &Ctx) -> Result<()> {
    match membership::left_at(&ctx.dev)? {
        None => Ok(()),
        Some(_) => Err(CliError::new(duo_device::SyncError::Left)
            .hint("your copy stays readable here (`duo journal list`); `duo leave --wipe` removes it")),
    }
}
