//! `duo demo`: a guided tour. Two partners, Alice on her laptop and Bob on his phone, in
//! temporary homes on this machine: each step prints the command as a person would type
//! it and runs the real `duo` (this very program) to show its real output. The devices
//! talk over loopback only (no local discovery, no relay, no internet), and the temporary
//! directory is removed at the end, whatever happens.

use crate::args::DemoArgs;
use crate::error::{CliError, Result};
use crate::exit;
use crate::output::Printer;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why a tour stopped early without an error to report.
const STDOUT_CLOSED: &str = "stdout was closed";

/// One of the two demo devices.
struct Person {
    name: &'static str,
    home: PathBuf,
}

struct Tour<'a> {
    p: &'a Printer,
    exe: PathBuf,
    pause: bool,
    step: usize,
}

impl Tour<'_> {
    fn command(&self, who: &Person, args: &[&str]) -> Command {
        let mut c = Command::new(&self.exe);
        c.args(args);
        // Nothing of the person's own setup leaks in: every DUO_ variable is replaced.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("DUO_") {
                c.env_remove(k);
            }
        }
        c.env("DUO_HOME", &who.home)
            .env("DUO_RELAY", "disabled")
            .env("DUO_DISCOVERY", "none")
            .env("DUO_BIND", "127.0.0.1:0")
            .env("DUO_HINTS", "off")
            .env("NO_COLOR", "1");
        c
    }

    /// A new step: its title and why it matters, then a pause on a terminal.
    fn step(&mut self, title: &str, why: &str) -> Result<()> {
        if self.step > 0 && self.pause {
            crate::output::prompt("\n[Enter: next step · Ctrl-C: stop] ");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
        }
        self.step += 1;
        self.say(&format!("\n{}. {}\n   {}\n", self.step, self.p.bold(title), why))?;
        Ok(())
    }

    /// Show `who$ duo args` and run it; return its stdout.
    fn run(&self, who: &Person, args: &[&str], stdin: Option<&str>) -> Result<String> {
        self.run_shown(who, args, args, stdin)
    }

    /// Show `who$ duo shown` but run `args` (the demo answers `--yes` for the person).
    fn run_shown(&self, who: &Person, shown: &[&str], args: &[&str], stdin: Option<&str>) -> Result<String> {
        self.show_typed(who, shown, stdin.is_some())?;
        let mut child = self
            .command(who, args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| CliError::new("could not run duo for the demo").cause(e))?;
        if let Some(text) = stdin {
            child.stdin.take().expect("piped").write_all(text.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        self.show_output(&stdout, &stderr)?;
        if !out.status.success() {
            return Err(CliError::new(format!("the demo step `duo {}` failed", args.join(" ")))
                .cause(stderr.trim())
                .hint("this is a bug in duo's demo; nothing of yours was touched"));
        }
        Ok(stdout.into_owned())
    }

    /// Print a block on stdout. A closed stdout (`duo demo | head`) stops the tour, and the
    /// temporary directory is still removed.
    fn say(&self, text: &str) -> Result<()> {
        self.p.try_data(text.trim_end_matches('\n')).map_err(|_| CliError {
            code: exit::OK,
            ..CliError::new(STDOUT_CLOSED)
        })
    }

    fn show_typed(&self, who: &Person, args: &[&str], piped: bool) -> Result<()> {
        let quoted: Vec<String> = args
            .iter()
            .map(|a| {
                if a.contains(' ') {
                    format!("\"{a}\"")
                } else {
                    a.to_string()
                }
            })
            .collect();
        let tail = if piped { "      (pasted at its prompt)" } else { "" };
        self.say(&format!(
            "\n  {}$ duo {}{tail}",
            who.name.to_lowercase(),
            quoted.join(" ")
        ))
    }

    fn show_output(&self, stdout: &str, stderr: &str) -> Result<()> {
        let mut shown = String::new();
        for line in stdout.lines().chain(stderr.lines()) {
            // A ticket holds a secret code: never print one, even a throwaway demo's.
            let line = if line.starts_with("duo1:") {
                "duo1:… (the ticket)"
            } else {
                line
            };
            shown.push_str(&format!("    {line}\n"));
        }
        if !shown.is_empty() {
            self.say(shown.trim_end_matches('\n'))?;
        }
        Ok(())
    }

    /// Start `duo sync --watch` on `who` in the background; wait until it is online.
    fn watch(&self, who: &Person) -> Result<Watcher> {
        self.show_typed(who, &["sync", "--watch"], false)?;
        self.say("    (left running: this device now answers the other one)")?;
        let mut child = self
            .command(who, &["sync", "--watch"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut err = BufReader::new(child.stderr.take().expect("piped"));
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut line = String::new();
        while Instant::now() < deadline {
            line.clear();
            if err.read_line(&mut line)? == 0 {
                break;
            }
            if line.starts_with("Online") {
                // Keep draining its output so it never blocks on a full pipe.
                std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
                return Ok(Watcher(child));
            }
        }
        let _ = child.kill();
        Err(CliError::new("the demo's watcher did not come online").hint("this is a bug in duo's demo"))
    }
}

/// A background `duo sync --watch`, stopped when dropped.
struct Watcher(Child);

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The id an `add` printed (its first line).
fn id_of(out: &str) -> String {
    out.lines().next().unwrap_or_default().trim().to_string()
}

pub fn run(p: &Printer, a: &DemoArgs) -> Result<i32> {
    let dir = tempfile::Builder::new()
        .prefix("duo-demo-")
        .tempdir()
        .map_err(|e| CliError::new("could not make a temporary directory for the demo").cause(e))?;
    let exe = std::env::current_exe().map_err(|e| CliError::new("cannot tell where duo is").cause(e))?;
    let pause = !a.fast && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let mut tour = Tour { p, exe, pause, step: 0 };
    let result = tour_of(&mut tour, dir.path());
    // The temporary directory goes whatever happened (dropping `dir` removes it).
    drop(dir);
    match result {
        Err(e) if e.message == STDOUT_CLOSED => return Ok(exit::OK),
        other => other?,
    }
    tour.say("\nThat was the tour. Everything it wrote was in a temporary directory, now removed.\nStart for real with `duo init --name <your name>`; `duo --help` lists every command.")
        .ok();
    Ok(exit::OK)
}

fn tour_of(t: &mut Tour<'_>, dir: &Path) -> Result<()> {
    let alice = Person {
        name: "Alice",
        home: dir.join("alice"),
    };
    let bob = Person {
        name: "Bob",
        home: dir.join("bob"),
    };
    t.say("duo demo: Alice and Bob, each on their own device, on this machine only (loopback).")?;

    t.step(
        "Each sets up their own device",
        "No account and no server: keys are made on the device, and the journal is encrypted there.",
    )?;
    t.run(&alice, &["init", "--name", "Alice", "--label", "laptop"], None)?;
    t.run(&bob, &["init", "--name", "Bob", "--label", "phone"], None)?;

    t.step(
        "Writing works offline",
        "Appreciations, reflections and boundaries, in your own words; a private note never leaves the device.",
    )?;
    let walk = id_of(&t.run(
        &alice,
        &[
            "journal",
            "add",
            "I felt close to you on our walk today",
            "--kind",
            "appreciation",
            "--tag",
            "walks",
        ],
        None,
    )?);
    t.run(
        &bob,
        &[
            "journal",
            "add",
            "I need an hour alone after work before we talk about plans",
            "--kind",
            "boundary",
        ],
        None,
    )?;
    t.run(
        &alice,
        &["journal", "add", "--private", "Something I'm not ready to share yet"],
        None,
    )?;

    t.step(
        "Pairing: a ticket, and four words to compare",
        "Both screens show the same words; each person checks them before saying yes (the demo says yes for them).",
    )?;
    t.show_typed(&alice, &["pair", "--ticket"], false)?;
    let mut invite = t
        .command(&alice, &["pair", "--ticket", "--yes", "--no-qr"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut ticket = String::new();
    BufReader::new(invite.stdout.as_mut().expect("piped")).read_line(&mut ticket)?;
    let joined = t.run_shown(
        &bob,
        &["pair", "join", "--ticket"],
        &["pair", "join", "--ticket", "--yes"],
        Some(&ticket),
    );
    if joined.is_err() {
        // Nobody will join: do not leave the inviter waiting for its ten minutes.
        let _ = invite.kill();
    }
    let invited = invite.wait_with_output()?;
    t.say("  (on Alice's laptop, meanwhile:)")?;
    t.show_output("", &String::from_utf8_lossy(&invited.stderr))?;
    joined?;

    t.step(
        "Sync: directly, end-to-end encrypted",
        "A device answers while `duo sync --watch` runs on it; `duo sync` on the other exchanges everything new.",
    )?;
    {
        let _bob_online = t.watch(&bob)?;
        t.run(&alice, &["sync"], None)?;
    }
    t.run(&bob, &["journal", "list"], None)?;

    t.step(
        "Offline on both sides, then one sync",
        "Edits made apart merge without loss.",
    )?;
    t.run(
        &alice,
        &[
            "journal",
            "edit",
            &walk[..8],
            "I felt close to you on our walk by the river today",
        ],
        None,
    )?;
    t.run(&bob, &["thanks", "for making tea while I was on the phone"], None)?;
    {
        let _bob_online = t.watch(&bob)?;
        t.run(&alice, &["sync"], None)?;
    }
    t.run(&alice, &["journal", "list"], None)?;

    t.step(
        "Listening: an acknowledgement is only what the reader chooses to send",
        "No read receipts, no \"seen\": Bob says he heard it, and Alice sees that.",
    )?;
    t.run(&bob, &["journal", "ack", &walk[..8], "heard"], None)?;
    {
        let _alice_online = t.watch(&alice)?;
        t.run(&bob, &["sync"], None)?;
    }
    t.run(&alice, &["journal", "show", &walk[..8]], None)?;

    t.step(
        "A question for the two of you",
        "Prompts go no deeper than the lower of your two comfort depths; passing is always fine.",
    )?;
    t.run(&alice, &["prompt"], None)?;

    t.step(
        "Boundaries in force",
        "Only the person who set a boundary can change it; both see it.",
    )?;
    t.run(&alice, &["boundaries"], None)?;
    Ok(())
}
