//! `duo status`: who am I, where is my data, how many entries.

use crate::ctx::Ctx;
use crate::error::Result;

pub fn run(ctx: &Ctx) -> Result<i32> {
    let both = ctx.read(true)?;
    let damaged = !both.damage.is_empty();
    let c = &ctx.dev.config;
    let view = &both.shared.view;
    let private = both.private.as_ref().map(|p| p.view.entries.len()).unwrap_or(0);
    // You first, then your partner; each name as its signatures show it (marked when the
    // document holds another).
    let mut ids: Vec<(bool, &str)> = view
        .persons
        .values()
        .map(|p| (p.id != c.person_id, p.id.as_str()))
        .collect();
    ids.sort();
    let people: Vec<String> = ids.iter().map(|(_, id)| view.person_name(id)).collect();
    let left = duo_sync::membership::left_at(&ctx.dev)?.is_some();
    let not_valid = duo_journal::text::not_valid(
        [("name", c.name.as_str()), ("device_label", c.device_label.as_str())]
            .into_iter()
            .chain(
                ids.iter()
                    .filter_map(|(_, id)| view.persons.get(*id))
                    .map(|p| ("people", p.name.as_str())),
            ),
    );
    let p = &ctx.printer;
    // Bound addresses exist only while this device is online, i.e. `duo sync --watch` runs.
    let online = duo_sync::handoff::watcher(ctx.dev.home.root()).and_then(|w| w.addresses().ok());
    if p.json {
        p.json_value(&serde_json::json!({
            "name": c.name,
            "person_id": c.person_id,
            "device_id": c.device_id,
            "device_label": c.device_label,
            "endpoint_id": c.device_id,
            "port": c.port,
            "online": online.is_some(),
            "addresses": online.clone().unwrap_or_default(),
            "home": ctx.dev.home.root(),
            "space_id": view.space_id,
            "people": people,
            "devices": view.devices.len(),
            "entries": { "shared": view.entries.len(), "private": private },
            "healthy": !damaged,
            "not_valid": not_valid,
        }));
    } else {
        let network = match &online {
            Some(addrs) => format!(
                "online (`duo sync --watch`) at {}",
                addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ),
            None if left => {
                "offline for good: you left this space here (`duo leave`); it stays readable as an archive".to_string()
            }
            None => match c.port {
                Some(port) => format!("offline; goes online on port {port}"),
                None => "offline; not yet online".to_string(),
            },
        };
        p.data(&format!(
            "You are      {} (person {})\nThis device  {} (id {})\nData         {}\nPeople       {}\nEntries      {} shared, {} in your private notebook\nNetwork      {network}\n",
            crate::output::name(&c.name),
            &c.person_id[..8],
            crate::output::label(&c.device_label),
            &c.device_id[..16],
            ctx.dev.home.root().display(),
            ids.iter().map(|(_, id)| view.shown_name(id)).collect::<Vec<_>>().join(", "),
            view.entries.len(),
            private
        ));
    }
    Ok(ctx.report(&both))
}
