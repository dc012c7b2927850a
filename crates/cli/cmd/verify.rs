//! `duo verify FILE`: check a signed export offline, and, on a device of the space it came
//! from, whether the device that signed it was revoked there.

use crate::args::{Cli, VerifyArgs};
use crate::error::{CliError, Result};
use crate::exit;
use crate::output::{Printer, count, label, name, rfc3339};
use duo_device::signed_export::Signer;

pub fn run(cli: &Cli, p: Printer, a: &VerifyArgs) -> Result<i32> {
    let bytes =
        std::fs::read(&a.file).map_err(|e| CliError::new(format!("cannot read {}", a.file.display())).cause(e))?;
    let payload = duo_device::signed_export::verify_export(&bytes).map_err(|e| {
        CliError::new(format!("{} does not verify", a.file.display()))
            .cause(e)
            .hint("only an unchanged file made by `duo journal export --format json --signed` verifies")
    })?;
    // Only a device of the export's own space can say whether its signer was revoked; any
    // other home (or none, or a locked one) cannot know.
    let here = crate::ctx::home_dir(cli)
        .ok()
        .map(duo_device::Home::new)
        .filter(duo_device::Home::is_initialized)
        .and_then(|h| h.open().ok());
    let signer = duo_device::signed_export::signer_in(here.as_ref(), &payload).unwrap_or(Signer::CannotKnow);
    drop(here);
    let (standing, code) = match &signer {
        Signer::Active { .. } => ("active", exit::OK),
        Signer::Revoked { .. } => ("revoked", exit::REVOKED),
        Signer::Unknown => ("unknown", exit::UNKNOWN_DEVICE),
        Signer::CannotKnow => ("cannot_know", exit::OK),
    };
    if p.json {
        p.json_value(&serde_json::json!({
            "valid": code == exit::OK,
            "signature": "intact",
            "signer": standing,
            "device": payload.device,
            "device_label": payload.device_label,
            "person_id": payload.person_id,
            "person_name": payload.person_name,
            "exported_at": rfc3339(payload.exported_at),
            "not_valid": duo_journal::text::not_valid([("person_name", payload.person_name.as_str()), ("device_label", payload.device_label.as_str())]),
            "entries": payload.entries.len(),
        }));
        return Ok(code);
    }
    let who = name(&payload.person_name);
    let what = format!(
        "{} by {who}, signed on {} by device {} (\"{}\")",
        count(payload.entries.len(), "entry", "entries"),
        rfc3339(payload.exported_at),
        duo_journal::text::line(&payload.device),
        label(&payload.device_label),
    );
    let only_theirs =
        format!("Every entry in it is authored by {who}; a signed export never holds anyone else's words.");
    p.data(&match signer {
        Signer::Active { label: l } => format!(
            "Valid: {what}.\n{only_theirs}\nThe device that signed it ('{}') is a current device of this space.",
            label(&l)
        ),
        Signer::CannotKnow => format!(
            "Valid: {what}.\n{only_theirs}\nWhether that device was revoked later cannot be known here: only a device of the shared space it came from can tell (run `duo verify` there)."
        ),
        Signer::Revoked { label: l } => format!(
            "Not trusted: the signature is intact ({what}), but the device that signed it ('{}') was revoked in this space.\nAnyone holding a copy of that device's keys could have made this file, so it proves nothing about what {who} wrote.",
            label(&l)
        ),
        Signer::Unknown => format!(
            "Not trusted: the signature is intact ({what}), but the device that signed it is not a device this space trusts."
        ),
    });
    Ok(code)
}
