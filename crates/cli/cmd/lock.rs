//! `duo lock [--set | --remove]`, `duo unlock`, and the hidden `duo agent` they start.

use crate::args::{AgentArgs, Cli, LockArgs, UnlockArgs};
use crate::ctx::home_dir;
use crate::error::{CliError, Result};
use crate::exit;
use crate::output::Printer;
use duo_device::age::secrecy::{ExposeSecret, SecretString};
use duo_device::{Home, SyncError, agent, lock};
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::Path;

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

/// The passphrase: the first line of `file`, else asked on the terminal (twice when
/// `confirm`). Never from argv or the environment. (`duo backup` and `duo restore` too.)
pub fn passphrase(file: Option<&Path>, confirm: bool) -> Result<SecretString> {
    if let Some(f) = file {
        let text = std::fs::read_to_string(f)
            .map_err(|e| CliError::new(format!("cannot read the passphrase file {}", f.display())).cause(e))?;
        let line = text.lines().next().unwrap_or("").to_string();
        return Ok(SecretString::from(line));
    }
    if !std::io::stderr().is_terminal() && !std::io::stdin().is_terminal() {
        return Err(CliError::usage("there is no terminal to ask the passphrase on")
            .hint("pass --passphrase-file FILE (its first line is the passphrase)"));
    }
    let read = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map(SecretString::from)
            .map_err(|e| CliError::new("could not read the passphrase from the terminal").cause(e))
    };
    let first = read("Passphrase: ")?;
    if confirm {
        // Say it is too short before asking for it a second time.
        if first.expose_secret().chars().count() < lock::MIN_PASSPHRASE_CHARS {
            return Err(SyncError::WeakPassphrase.into());
        }
        let again = read("Same passphrase again: ")?;
        if again.expose_secret() != first.expose_secret() {
            return Err(CliError::usage("the two passphrases differ, so nothing was changed"));
        }
    }
    Ok(first)
}

pub fn lock(cli: &Cli, p: &Printer, a: &LockArgs) -> Result<i32> {
    let home = home(cli)?;
    if a.set {
        let pass = passphrase(a.passphrase_file.as_deref(), true)?;
        let took = lock::set(&home, pass)?;
        report(p, "locked", took);
        p.info(format!(
            "Locked: the keys are encrypted with your passphrase (deriving its key took {:.1} s). Run `duo unlock` to use duo.",
            took.as_secs_f64()
        ));
    } else if a.remove {
        let pass = passphrase(a.passphrase_file.as_deref(), false)?;
        lock::remove(&home, pass)?;
        report(p, "unlocked", std::time::Duration::ZERO);
        p.info("Passphrase removed: the key files are plain (mode 0600) again.");
    } else {
        if !lock::is_locked(&home) {
            return Err(SyncError::NotLocked.into());
        }
        let was_open = agent::stop(&home);
        // A running watcher holds the keys too: it goes offline and waits for `duo unlock`.
        if let Some(w) = duo_device::handoff::watcher(home.root()) {
            let _ = w.lock();
        }
        report(p, "locked", std::time::Duration::ZERO);
        p.info(if was_open {
            "Locked now: the keys are forgotten until `duo unlock`."
        } else {
            "Already locked."
        });
    }
    Ok(exit::OK)
}

fn report(p: &Printer, state: &str, took: std::time::Duration) {
    if p.json {
        p.json_value(&serde_json::json!({ "state": state, "kdf_ms": took.as_millis() as u64 }));
    }
}

pub fn unlock(cli: &Cli, p: &Printer, a: &UnlockArgs) -> Result<i32> {
    let home = home(cli)?;
    if !lock::is_locked(&home) {
        return Err(SyncError::NotLocked.into());
    }
    if agent::fetch(&home).is_some() {
        report(p, "unlocked", std::time::Duration::ZERO);
        p.info("Already unlocked.");
        return Ok(exit::OK);
    }
    let pass = passphrase(a.passphrase_file.as_deref(), false)?;
    let (keys, took) = lock::open(&home, pass)?;
    let exe = std::env::current_exe().map_err(|e| CliError::new("cannot find the duo program").cause(e))?;
    let mut child = {
        use std::os::unix::process::CommandExt;
        std::process::Command::new(exe)
            .arg("--home")
            .arg(home.root())
            .arg("agent")
            .arg("--idle")
            .arg(a.idle.to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| CliError::new("could not start the unlock agent").cause(e))?
    };
    let mut stdin = child.stdin.take().expect("piped");
    stdin
        .write_all(keys.expose_secret().as_bytes())
        .map_err(|e| CliError::new("could not hand the keys to the unlock agent").cause(e))?;
    drop(stdin);
    drop(keys);
    let mut line = String::new();
    let _ = std::io::BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line);
    if line.trim() != "ready" {
        let _ = child.kill();
        let _ = child.wait();
        return Err(CliError::new("the unlock agent did not start")
            .cause(line.trim())
            .hint("is another `duo unlock` running for this device? try `duo lock`, then `duo unlock`"));
    }
    report(p, "unlocked", took);
    p.info(format!(
        "Unlocked (deriving the key took {:.1} s). duo locks again after {} without use, or now with `duo lock`.",
        took.as_secs_f64(),
        idle_text(a.idle)
    ));
    Ok(exit::OK)
}

fn idle_text(secs: u64) -> String {
    if secs.is_multiple_of(60) {
        crate::output::count((secs / 60) as usize, "minute", "minutes")
    } else {
        crate::output::count(secs as usize, "second", "seconds")
    }
}

/// The agent: keys on stdin, "ready" on stdout once the socket listens, then serve.
pub fn agent(cli: &Cli, a: &AgentArgs) -> Result<i32> {
    agent::harden();
    let home = Home::new(home_dir(cli)?);
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text)?;
    let keys = SecretString::from(text);
    let listener = match agent::bind(&home) {
        Ok(l) => l,
        Err(e) => {
            println!("{e}");
            return Ok(exit::FAILURE);
        }
    };
    println!("ready");
    let _ = std::io::stdout().flush();
    agent::serve(&home, listener, keys, std::time::Duration::from_secs(a.idle))?;
    Ok(exit::OK)
}
