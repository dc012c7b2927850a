//! Keeping a device reachable: `duo sync --watch` as a per-user background service that
//! starts at login (a systemd user unit on Linux, a launchd agent on macOS).
//!
//! What the files say, and why:
//! - The service runs `duo sync --watch --service` as the user, with `DUO_HOME` naming this
//!   home. Nothing else is passed: no secret, and no relay or network setting from the
//!   environment (the unit unsets `DUO_RELAY`, `DUO_RELAY_CA`, `DUO_BIND` and
//!   `DUO_DISCOVERY`, so the relay comes only from the home's own `config.json`).
//! - It restarts whenever it stops (a lock makes the watcher step aside: the restarted one
//!   waits, holding no key, until `duo unlock`).
//! - Standard output goes nowhere; only errors reach the system journal (the watcher runs
//!   quiet under `--service`, so no activity time is ever logged).
//!
//! Installing writes the unit and enables it the way `systemctl --user enable` does (a link
//! in `default.target.wants/`), then asks a running user manager, if there is one, to
//! reload and start it. Everything here is idempotent: installing twice leaves the same
//! files, uninstalling what is not installed does nothing.

use std::path::{Path, PathBuf};

/// The service's name (`duo.service`, `org.duo.sync.plist`).
pub const UNIT: &str = "duo.service";
/// The launchd label on macOS.
pub const LAUNCHD_LABEL: &str = "org.duo.sync";

/// Where the per-user service files live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Manager {
    /// `$XDG_CONFIG_HOME/systemd/user` (else `~/.config/systemd/user`).
    Systemd { dir: PathBuf },
    /// `~/Library/LaunchAgents`.
    Launchd { dir: PathBuf },
}

/// What is installed now.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct State {
    /// The unit (or plist) file.
    pub file: PathBuf,
    pub installed: bool,
    /// Starts at login (systemd: linked from `default.target.wants`; launchd: `RunAtLoad`).
    pub enabled: bool,
    /// The home the installed unit serves, if installed.
    pub home: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("cannot find your home directory (HOME is not set), so there is nowhere to put the service")]
    NoHome,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not duo's service file (it was not written by duo), so duo leaves it alone")]
    Foreign { path: PathBuf },
    #[error("the service installed here serves another duo home ({other}); uninstall it first")]
    OtherHome { other: PathBuf },
    #[error("a path with a newline or a quote cannot go into a service file: {0}")]
    BadPath(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ServiceError + '_ {
    move |source| ServiceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The first line of every file duo writes, so that it never touches one it did not write.
const MARK: &str = "duo: keeps this device reachable (duo service install)";

impl Manager {
    /// The manager of this platform, located from the environment (`XDG_CONFIG_HOME`, `HOME`).
    pub fn for_this_platform() -> Result<Manager, ServiceError> {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .ok_or(ServiceError::NoHome)?;
        if cfg!(target_os = "macos") {
            return Ok(Manager::Launchd {
                dir: home.join("Library/LaunchAgents"),
            });
        }
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|c| !c.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".config"));
        Ok(Manager::Systemd {
            dir: config.join("systemd/user"),
        })
    }

    /// The unit or plist file.
    pub fn file(&self) -> PathBuf {
        match self {
            Manager::Systemd { dir } => dir.join(UNIT),
            Manager::Launchd { dir } => dir.join(format!("{LAUNCHD_LABEL}.plist")),
        }
    }

    /// The link that enables the systemd unit at login.
    fn wants_link(&self) -> Option<PathBuf> {
        match self {
            Manager::Systemd { dir } => Some(dir.join("default.target.wants").join(UNIT)),
            Manager::Launchd { .. } => None,
        }
    }

    /// The text of the service file that runs `duo` (at `exe`) for `home`.
    pub fn render(&self, exe: &Path, home: &Path) -> Result<String, ServiceError> {
        for p in [exe, home] {
            let s = p.to_string_lossy();
            if s.contains(['\n', '\r', '"', '\'', '\\', '%']) || s.contains("$") {
                return Err(ServiceError::BadPath(p.to_path_buf()));
            }
        }
        Ok(match self {
            Manager::Systemd { .. } => format!(
                "# {MARK}\n\
                 # It runs `duo sync --watch` at login so that your other devices and your partner's\n\
                 # reach this one. No secret is in this file. `duo service uninstall` removes it.\n\
                 [Unit]\n\
                 Description=duo: keep this device reachable for your shared journal\n\
                 \n\
                 [Service]\n\
                 Type=simple\n\
                 ExecStart=\"{exe}\" sync --watch --service\n\
                 Environment=\"DUO_HOME={home}\"\n\
                 UnsetEnvironment=DUO_RELAY DUO_RELAY_CA DUO_BIND DUO_DISCOVERY\n\
                 Restart=always\n\
                 RestartSec=5\n\
                 StandardOutput=null\n\
                 StandardError=journal\n\
                 \n\
                 [Install]\n\
                 WantedBy=default.target\n",
                exe = exe.display(),
                home = home.display()
            ),
            Manager::Launchd { .. } => format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                 <!-- {MARK} -->\n\
                 <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
                 <plist version=\"1.0\">\n<dict>\n\
                 \t<key>Label</key><string>{LAUNCHD_LABEL}</string>\n\
                 \t<key>ProgramArguments</key>\n\t<array>\n\
                 \t\t<string>{exe}</string><string>sync</string><string>--watch</string><string>--service</string>\n\
                 \t</array>\n\
                 \t<key>EnvironmentVariables</key>\n\t<dict><key>DUO_HOME</key><string>{home}</string></dict>\n\
                 \t<key>RunAtLoad</key><true/>\n\
                 \t<key>KeepAlive</key><true/>\n\
                 \t<key>StandardOutPath</key><string>/dev/null</string>\n\
                 </dict>\n</plist>\n",
                exe = xml(&exe.display().to_string()),
                home = xml(&home.display().to_string())
            ),
        })
    }

    /// What is installed now.
    pub fn state(&self) -> Result<State, ServiceError> {
        let file = self.file();
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(&file)(e)),
        };
        let ours = text.as_deref().is_some_and(|t| t.contains(MARK));
        let enabled = match self.wants_link() {
            Some(link) => link.symlink_metadata().is_ok(),
            None => ours,
        };
        Ok(State {
            installed: ours,
            enabled: ours && enabled,
            home: text.as_deref().filter(|_| ours).and_then(served_home),
            file,
        })
    }

    /// Write the service file for `home` and enable it. Returns whether anything changed.
    pub fn install(&self, exe: &Path, home: &Path) -> Result<bool, ServiceError> {
        let file = self.file();
        let text = self.render(exe, home)?;
        let now = std::fs::read_to_string(&file).ok();
        if let Some(existing) = &now {
            if !existing.contains(MARK) {
                return Err(ServiceError::Foreign { path: file });
            }
            if let Some(other) = served_home(existing).filter(|h| h != home) {
                return Err(ServiceError::OtherHome { other });
            }
        }
        let mut changed = false;
        if now.as_deref() != Some(text.as_str()) {
            let dir = file.parent().expect("the file is in a directory");
            std::fs::create_dir_all(dir).map_err(io(dir))?;
            crate::write_durably(&file, text.as_bytes()).map_err(io(&file))?;
            changed = true;
        }
        if let Some(link) = self.wants_link()
            && link.symlink_metadata().is_err()
        {
            let dir = link.parent().expect("the link is in a directory");
            std::fs::create_dir_all(dir).map_err(io(dir))?;
            symlink(&file, &link).map_err(io(&link))?;
            changed = true;
        }
        Ok(changed)
    }

    /// Stop starting at login, keeping the file (`duo leave`). Returns whether it was enabled.
    pub fn disable(&self) -> Result<bool, ServiceError> {
        let state = self.state()?;
        if !state.installed {
            return Ok(false);
        }
        match self {
            Manager::Systemd { .. } => {
                let link = self.wants_link().expect("systemd has a wants link");
                match std::fs::remove_file(&link) {
                    Ok(()) => Ok(true),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                    Err(e) => Err(io(&link)(e)),
                }
            }
            // launchd has no separate "enabled" state for a user agent: without the file it
            // does not start, so disabling removes it.
            Manager::Launchd { .. } => self.uninstall(),
        }
    }

    /// Remove the link and the file, if duo wrote them. Returns whether anything was removed.
    pub fn uninstall(&self) -> Result<bool, ServiceError> {
        let state = self.state()?;
        if !state.installed {
            if state.file.exists() {
                return Err(ServiceError::Foreign { path: state.file });
            }
            return Ok(false);
        }
        let mut removed = false;
        for path in self.wants_link().into_iter().chain([state.file]) {
            match std::fs::remove_file(&path) {
                Ok(()) => removed = true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&path)(e)),
            }
        }
        Ok(removed)
    }
}

/// The `DUO_HOME` a service file names.
fn served_home(text: &str) -> Option<PathBuf> {
    if let Some(rest) = text.split("Environment=\"DUO_HOME=").nth(1) {
        return rest.split('"').next().map(PathBuf::from);
    }
    let rest = text.split("<key>DUO_HOME</key><string>").nth(1)?;
    rest.split("</string>").next().map(|h| PathBuf::from(unxml(h)))
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn unxml(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    // Relative, as systemctl writes it: the pair can be moved together.
    let rel = Path::new("..").join(target.file_name().expect("a file name"));
    std::os::unix::fs::symlink(rel, link)
}

#[cfg(not(unix))]
fn symlink(_target: &Path, _link: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other("services are supported on Linux and macOS only"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn systemd() -> (tempfile::TempDir, Manager) {
        let dir = tempfile::tempdir().unwrap();
        let m = Manager::Systemd {
            dir: dir.path().join("systemd/user"),
        };
        (dir, m)
    }

    #[test]
    fn the_unit_runs_the_watcher_for_this_home_with_no_secret_and_no_relay_from_the_environment() {
        let (_d, m) = systemd();
        let text = m
            .render(Path::new("/usr/bin/duo"), Path::new("/home/a/.local/share/duo"))
            .unwrap();
        assert!(
            text.contains("ExecStart=\"/usr/bin/duo\" sync --watch --service\n"),
            "{text}"
        );
        assert!(text.contains("Environment=\"DUO_HOME=/home/a/.local/share/duo\"\n"));
        assert!(text.contains("UnsetEnvironment=DUO_RELAY DUO_RELAY_CA DUO_BIND DUO_DISCOVERY\n"));
        assert!(text.contains("Restart=always\n") && text.contains("StandardOutput=null\n"));
        assert_eq!(
            text.matches("Environment=").count(),
            2,
            "only DUO_HOME is set (and some unset)"
        );
        for secret in ["DUO_RELAY=", "key", "passphrase", "ticket"] {
            assert!(!text.to_lowercase().contains(secret), "{secret} in {text}");
        }
        assert!(matches!(
            m.render(Path::new("/usr/bin/duo"), Path::new("/home/a\nExecStartPre=/bin/evil")),
            Err(ServiceError::BadPath(_))
        ));
    }

    #[test]
    fn install_is_idempotent_and_uninstall_removes_only_what_duo_wrote() {
        let (_d, m) = systemd();
        let (exe, home) = (Path::new("/usr/bin/duo"), Path::new("/h/duo"));
        assert!(!m.state().unwrap().installed);
        assert!(m.install(exe, home).unwrap(), "the first install writes");
        let s = m.state().unwrap();
        assert!(s.installed && s.enabled && s.home.as_deref() == Some(home), "{s:?}");
        assert!(!m.install(exe, home).unwrap(), "the second changes nothing");
        assert!(matches!(
            m.install(exe, Path::new("/other")),
            Err(ServiceError::OtherHome { .. })
        ));
        assert!(m.disable().unwrap());
        let s = m.state().unwrap();
        assert!(s.installed && !s.enabled, "{s:?}");
        assert!(m.install(exe, home).unwrap(), "installing again enables it again");
        assert!(m.uninstall().unwrap());
        assert!(!m.uninstall().unwrap(), "uninstalling twice does nothing");
        assert!(!m.file().exists());
        // A unit of the same name that duo did not write is left alone.
        std::fs::write(m.file(), "[Service]\nExecStart=/bin/true\n").unwrap();
        assert!(matches!(m.install(exe, home), Err(ServiceError::Foreign { .. })));
        assert!(matches!(m.uninstall(), Err(ServiceError::Foreign { .. })));
        assert!(m.file().exists());
    }

    #[test]
    fn the_launchd_agent_keeps_the_watcher_alive_for_this_home() {
        let dir = tempfile::tempdir().unwrap();
        let m = Manager::Launchd {
            dir: dir.path().to_path_buf(),
        };
        let home = Path::new("/Users/a/Library/Application Support/duo & co");
        let text = m.render(Path::new("/usr/local/bin/duo"), home).unwrap();
        assert!(text.contains("<string>sync</string><string>--watch</string><string>--service</string>"));
        assert!(text.contains("<key>KeepAlive</key><true/>") && text.contains("duo &amp; co"));
        m.install(Path::new("/usr/local/bin/duo"), home).unwrap();
        assert_eq!(m.state().unwrap().home.as_deref(), Some(home));
        assert!(m.uninstall().unwrap());
    }
}
