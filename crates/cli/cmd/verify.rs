//! `duo verify FILE`: check a signed export offline.

use crate::args::VerifyArgs;
use crate::error::{CliError, Result};
use crate::exit;
use crate::output::{Printer, count, rfc3339};

pub fn run(p: &Printer, a: &VerifyArgs) -> Result<i32> {
    let bytes =
        std::fs::read(&a.file).map_err(|e| CliError::new(format!("cannot read {}", a.file.display())).cause(e))?;
    let payload = duo_sync::auth::verify_export(&bytes).map_err(|e| {
        CliError::new(format!("{} does not verify", a.file.display()))
            .cause(e)
            .hint("only an unchanged file made by `duo journal export --format json --signed` verifies")
    })?;
    if p.json {
        p.json_value(&serde_json::json!({
            "valid": true,
            "device": payload.device,
            "device_label": payload.device_label,
            "person_id": payload.person_id,
            "person_name": payload.person_name,
            "exported_at": rfc3339(payload.exported_at),
            "not_valid": duo_journal::text::not_valid([("person_name", payload.person_name.as_str()), ("device_label", payload.device_label.as_str())]),
            "entries": payload.entries.len(),
        }));
    } else {
        p.data(&format!(
            "Valid: {} by {}, signed on {} by device {} (\"{}\").\nEvery entry in it is authored by {}; a signed export never holds anyone else's words.",
            count(payload.entries.len(), "entry", "entries"),
            crate::output::name(&payload.person_name),
            rfc3339(payload.exported_at),
            duo_journal::text::line(&payload.device),
            crate::output::label(&payload.device_label),
            crate::output::name(&payload.person_name)
        ));
    }
    Ok(exit::OK)
}
