//! `duo service install | uninstall | status`, and the wait of `duo sync --watch --service`
//! while duo is locked. The service files live in `duo_device::service`.

use crate::args::{Cli, ServiceArgs, ServiceCommand};
use crate::ctx::home_dir;
use crate::error::{CliError, Result};
use crate::exit;
use crate::output::Printer;
use duo_device::service::{Manager, ServiceError, UNIT};
use duo_device::{Home, SyncError, lock};
use std::process::{Command, Stdio};
use std::time::Duration;

fn service_error(e: ServiceError) -> CliError {
    let hint = match &e {
        ServiceError::NoHome => "set HOME to your home directory",
        ServiceError::Foreign { .. } => "remove or rename that file yourself if you want duo's service there",
        ServiceError::OtherHome { .. } => {
            "the service serves one home at a time: `duo service uninstall`, then install again here"
        }
        ServiceError::BadPath(_) => "move duo or its home to a plain path and install again",
        ServiceError::Io { .. } => "check that the directory is yours and writable",
    };
    CliError::new(e).hint(hint)
}

/// The home, set up (a locked home is fine: the service waits for `duo unlock`).
fn home(cli: &Cli) -> Result<Home> {
    let home = Home::new(home_dir(cli)?);
    if !home.is_initialized() {
        return Err(SyncError::NotInitialized {
            path: home.root().to_path_buf(),
        }
        .into());
    }
    Ok(home)
}

/// Ask the user service manager, if one is running, to do something. Never fails: without
/// a running manager the files still take effect at the next login.
fn tell_manager(m: &Manager, args: &[&str]) -> bool {
    let (program, full): (&str, Vec<&str>) = match m {
        Manager::Systemd { .. } => ("systemctl", [&["--user", "--quiet"][..], args].concat()),
        Manager::Launchd { .. } => ("launchctl", args.to_vec()),
    };
    Command::new(program)
        .args(full)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn run(cli: &Cli, p: &Printer, a: &ServiceArgs) -> Result<i32> {
    let m = Manager::for_this_platform().map_err(service_error)?;
    match a.command.as_ref().unwrap_or(&ServiceCommand::Status) {
        ServiceCommand::Install => install(cli, p, &m),
        ServiceCommand::Uninstall => {
            let file = m.file();
            let started_here = tell_manager(&m, &["stop", UNIT]);
            let removed = m.uninstall().map_err(service_error)?;
            if let Manager::Systemd { .. } = m {
                tell_manager(&m, &["daemon-reload"]);
            }
            if p.json {
                p.json_value(&serde_json::json!({ "removed": removed, "file": file }));
            } else if removed {
                p.info(format!(
                    "Removed the service ({}){}. This device is reachable only while `duo sync --watch` runs.",
                    file.display(),
                    if started_here { " and stopped it" } else { "" }
                ));
            } else {
                p.info("No duo service was installed; nothing changed.");
            }
            Ok(exit::OK)
        }
        ServiceCommand::Status => status(cli, p, &m),
    }
}

fn install(cli: &Cli, p: &Printer, m: &Manager) -> Result<i32> {
    let home = home(cli)?;
    let root =
        std::path::absolute(home.root()).map_err(|e| CliError::new("cannot resolve the home directory").cause(e))?;
    let exe = std::env::current_exe()
        .and_then(|e| e.canonicalize())
        .map_err(|e| CliError::new("cannot tell where the duo program is").cause(e))?;
    let changed = m.install(&exe, &root).map_err(service_error)?;
    let started = match m {
        Manager::Systemd { .. } => tell_manager(m, &["daemon-reload"]) && tell_manager(m, &["restart", UNIT]),
        Manager::Launchd { .. } => tell_manager(m, &["load", "-w", &m.file().to_string_lossy()]),
    };
    if p.json {
        p.json_value(&serde_json::json!({
            "file": m.file(), "changed": changed, "started": started, "home": root, "program": exe,
        }));
        return Ok(exit::OK);
    }
    p.info(format!(
        "{} the service: {} runs `duo sync --watch` for this home at every login, as you, and restarts it if it stops.",
        if changed { "Installed" } else { "Already installed" },
        m.file().display()
    ));
    p.info(if started {
        "It runs now: this device is reachable while you are logged in."
    } else {
        "No user service manager answered just now, so it starts at your next login (or start it yourself: `systemctl --user start duo.service`)."
    });
    p.info("While duo is locked (`duo lock`) it holds no key and waits for `duo unlock`. `duo service uninstall` removes it.");
    Ok(exit::OK)
}

fn status(cli: &Cli, p: &Printer, m: &Manager) -> Result<i32> {
    let home = home(cli)?;
    let state = m.state().map_err(service_error)?;
    let watching = duo_device::handoff::watcher(home.root()).is_some();
    let locked = lock::is_locked(&home) && !lock::is_unlocked_now(&home);
    if p.json {
        p.json_value(&serde_json::json!({
            "installed": state.installed, "enabled": state.enabled, "file": state.file,
            "home": state.home, "reachable_now": watching, "locked": locked,
        }));
        return Ok(exit::OK);
    }
    let service = match (&state.installed, &state.enabled) {
        (false, _) => "not installed (`duo service install` keeps this device reachable at every login)".to_string(),
        (true, false) => format!("installed but not started at login ({})", state.file.display()),
        (true, true) => format!("installed, starts at login ({})", state.file.display()),
    };
    let now = match (watching, locked) {
        (true, _) => "reachable now: a watcher runs on this device",
        (false, true) => "not reachable now: duo is locked; the service waits for `duo unlock`",
        (false, false) => "not reachable now: no `duo sync --watch` runs on this device",
    };
    p.data(&format!("Service      {service}\nThis device  {now}\n"));
    Ok(exit::OK)
}

/// `duo leave` (`wipe`: `leave --wipe`) on the home at `root`: the service that serves it,
/// if any, is stopped and disabled (removed when wiping). Says what it did.
pub fn on_leave(root: &std::path::Path, wipe: bool) -> Option<String> {
    let m = Manager::for_this_platform().ok()?;
    let state = m.state().ok()?;
    let root = std::path::absolute(root).ok()?;
    if !state.installed || state.home.as_deref() != Some(root.as_path()) {
        return None;
    }
    tell_manager(&m, &["stop", UNIT]);
    let done = if wipe { m.uninstall() } else { m.disable() };
    if let Manager::Systemd { .. } = m {
        tell_manager(&m, &["daemon-reload"]);
    }
    Some(match (done, wipe) {
        (Ok(_), true) => format!("Removed the background service ({}).", state.file.display()),
        (Ok(_), false) => {
            "The background service no longer starts at login (`duo service uninstall` removes it).".to_string()
        }
        (Err(e), _) => format!("warning: could not turn off the background service: {e}; run `duo service uninstall`"),
    })
}

/// `duo sync --watch --service`: while duo is locked, wait (holding no key) until it is
/// unlocked; then the watcher starts as usual.
pub fn wait_until_unlocked(cli: &Cli) -> Result<()> {
    let home = home(cli)?;
    while lock::is_locked(&home) && !lock::is_unlocked_now(&home) {
        std::thread::sleep(Duration::from_secs(2));
    }
    Ok(())
}
