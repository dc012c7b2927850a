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
    let left = duo_device::membership::left_at(&ctx.dev)?.is_some();
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
    // A watcher that is busy (pushing to a device that does not answer) may not tell its
    // addresses in time: it is reachable all the same, its addresses then unknown.
    let online = duo_device::handoff::watcher(ctx.dev.home.root()).map(|w| w.addresses().unwrap_or_default());
    // The service installed for this home (it runs the watcher above while you are logged in).
    let service = duo_device::service::Manager::for_this_platform()
        .and_then(|m| m.state())
        .ok()
        .filter(|s| s.installed && s.home.as_deref() == Some(ctx.dev.home.root()));
    let notices = super::devices::pending(ctx, view);
    let own = own_devices(ctx, view);
    if p.json {
        p.json_value(&serde_json::json!({
            "name": c.name,
            "person_id": c.person_id,
            "device_id": c.device_id,
            "device_label": c.device_label,
            "endpoint_id": c.device_id,
            "port": c.port,
            "online": online.is_some(),
            "reachable_now": online.is_some(),
            "service": service.as_ref().map(|s| if s.enabled { "starts at login" } else { "installed, not started at login" }),
            "own_devices": own.iter().map(|(d, at)| serde_json::json!({
                "id": d.id, "label": d.label, "last_synced": at.map(crate::output::rfc3339),
            })).collect::<Vec<_>>(),
            "notices": notices.iter().map(|n| serde_json::json!({"device": n.device, "notice": n.kind.as_str()})).collect::<Vec<_>>(),
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
            Some(addrs) if addrs.is_empty() => "reachable now (`duo sync --watch` or the service runs)".to_string(),
            Some(addrs) => format!(
                "reachable now (`duo sync --watch` or the service runs) at {}",
                addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ),
            None if left => {
                "offline for good: you left this space here (`duo leave`); it stays readable as an archive".to_string()
            }
            None => {
                let port = c
                    .port
                    .map_or_else(String::new, |port| format!("; it goes online on port {port}"));
                format!("not reachable now: no `duo sync --watch` runs on this device{port}")
            }
        };
        let network = match &service {
            Some(s) if s.enabled => format!(
                "{network}\n             the service (`duo service status`) keeps it reachable while you are logged in"
            ),
            Some(_) => format!("{network}\n             the service is installed but not started at login"),
            None => network,
        };
        let mut more = String::new();
        for (d, at) in &own {
            let when = at.map_or_else(
                || "never synced with this one".to_string(),
                |t| format!("last synced with this one {}", crate::output::local_time(t)),
            );
            more.push_str(&format!(
                "Your device  '{}' ({}): {when}\n",
                crate::output::label(&d.label),
                crate::output::short(&d.id, 12)
            ));
        }
        if !notices.is_empty() {
            more.push_str(&format!(
                "Notices      {} about devices added or revoked (see above); `duo devices ack` once read\n",
                crate::output::count(notices.len(), "change", "changes")
            ));
        }
        p.data(&format!(
            "You are      {} (person {})\nThis device  {} (id {})\nData         {}\nPeople       {}\nEntries      {} shared, {} in your private notebook\nNetwork      {network}\n{more}",
            crate::output::name(&c.name),
            &c.person_id[..8],
            crate::output::label(&c.device_label),
            &c.device_id[..16],
            ctx.dev.home.root().display(),
            people.iter().map(|n| crate::output::name(n)).collect::<Vec<_>>().join(", "),
            view.entries.len(),
            private
        ));
    }
    Ok(ctx.report(&both))
}

/// This person's other active devices and when each last synced with this one. Nothing of
/// the partner's devices' timing is kept, so nothing of it is shown.
fn own_devices<'a>(ctx: &Ctx, view: &'a duo_journal::View) -> Vec<(&'a duo_journal::Device, Option<i64>)> {
    let c = &ctx.dev.config;
    let Ok(trust) = duo_device::membership::trust(&ctx.dev) else {
        return Vec::new();
    };
    let m = duo_device::membership::membership(&view.members(), &trust);
    let mut own: Vec<_> = view
        .devices
        .values()
        .filter(|d| d.person == c.person_id && d.id != c.device_id && m.is_active(&d.id))
        .map(|d| (d, trust.last_synced.get(&d.id).copied()))
        .collect();
    own.sort_by_key(|(d, _)| d.added_at);
    own
}
