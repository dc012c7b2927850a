//! `duo init`: create this device.

use crate::args::{Cli, InitArgs};
use crate::ctx::{home_dir, now};
use crate::error::Result;
use crate::exit;
use crate::output::Printer;

pub fn host_label() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this device".into())
}

pub fn run(cli: &Cli, p: Printer, a: &InitArgs) -> Result<i32> {
    let home = duo_device::Home::new(home_dir(cli)?);
    let label = a.label.clone().unwrap_or_else(host_label);
    let dev = home.init(&a.name, &label, now()?)?;
    if p.json {
        p.json_value(&serde_json::json!({
            "name": dev.config.name,
            "person_id": dev.config.person_id,
            "device_id": dev.config.device_id,
            "device_label": dev.config.device_label,
            "home": home.root(),
        }));
    } else {
        p.info(format!(
            "Welcome, {}. This device ('{}') is set up; your journal lives in {}, encrypted.\n\nWrite your first entry:\n    duo journal add \"Something I appreciated today\" --kind appreciation",
            dev.config.name,
            label,
            home.root().display()
        ));
    }
    Ok(exit::OK)
}
