//! Docs that run: every ` ```console ` block of README.md and docs/cli.md is a transcript,
//! executed here with the real `duo`, and its output must be what the doc shows.
//!
//! A transcript is what a person sees in a terminal:
//!
//! - `$ COMMAND` runs COMMAND (through `sh -c`, so quotes, pipes, `>` and `echo $?` work,
//!   with the `duo` under test first on `PATH`) on Alice's device; `bob$ COMMAND` on Bob's
//!   (any lowercase name is a device of its own). The lines up to the next command are what
//!   it prints, stdout and stderr together as a terminal shows them.
//! - `[..]` in a line matches any text within that line; a line `...` matches any lines.
//! - Ids are random on every run. The doc writes its own (`3f9c…`); the first time a doc id
//!   meets a real one in the output they are bound, and from then on the doc id stands for
//!   that real id, in commands (`duo journal show 3f9c`) and in output, at any length. An
//!   id printed alone on a line (what `journal add` prints) that the doc does not show binds
//!   the next doc id the block's commands use that is still unbound.
//! - Every block gets fresh homes: `HOME=/home/<name>` as far as the doc can tell (a
//!   temporary directory, shown as `/home/alice` in output and accepted so in commands),
//!   `DUO_HOME=$HOME/.local/share/duo` (the Linux default), the working directory `$HOME`,
//!   `TZ=UTC`, `NO_COLOR=1`, `DUO_RELAY=disabled`, `DUO_DISCOVERY=none`,
//!   `DUO_BIND=127.0.0.1:0`, stdin closed. The clock (`DUO_NOW`) starts at
//!   2026-11-01 08:00 UTC and moves on one minute with every command.
//! - `duo sync --watch` runs in the background (as in a second terminal) until the block
//!   ends; its output is what it printed by then (it is given up to 60 s to print it).
//!
//! An HTML comment right before a block, invisible to readers, prepares it:
//!
//! ```text
//! <!-- docs-run
//! now 2026-11-03T20:00:00Z          the clock, from here on
//! $ duo init --name Alice           a command whose output is not shown (it must succeed)
//! bob$ duo init --name Bob
//! pair alice bob [ARGS]             bob joins alice's `duo pair --ticket ARGS`
//! sync alice bob                    bob runs `duo sync --watch` while alice runs `duo sync`
//! watch bob                         bob runs `duo sync --watch` for the whole block
//! env NAME=VALUE / unset NAME       for the block's commands
//! file [NAME:]PATH                  a file in that device's home (default alice's),
//! …content…                         up to a line EOF
//! EOF
//! terminal                          the block needs terminals: a test in `by_hand` runs
//!                                   it (listed in `by_hand::TERMINAL_BLOCKS`)
//! -->
//! ```
//!
//! A block that no longer matches fails with the doc, line and a diff. `DUO_DOCS_BLESS=1
//! cargo test --test e2e docs_run::` (`just bless-docs`) writes what duo printed into the
//! docs instead, keeping the `[..]` and `...` lines that still match and the doc's ids.
//! Blocks run three at a time; a block's own commands run in order.

mod by_hand;
mod matcher;

use crate::harness::{self, Device};
use matcher::{Edit, Ids, Pattern, align, match_lines, pattern};
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Set to rewrite the docs' expected output with what duo printed.
const BLESS: &str = "DUO_DOCS_BLESS";
const START: &str = "2026-11-01T08:00:00Z";
/// A command that runs longer is killed and fails the block (a hang is a defect).
const LIMIT: Duration = Duration::from_secs(60);
/// How long a background command may take to print what the doc shows (a watcher's lines
/// come after a sync with another device: on a busy machine, seconds). Waiting stops as soon
/// as it has.
const BACKGROUND_LIMIT: Duration = Duration::from_secs(60);
/// Blocks run at the same time.
const PARALLEL: usize = 3;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------- parsing

/// One command of a transcript and the output the doc shows for it.
struct Step {
    /// 0-based line of the command in the doc.
    line: usize,
    who: String,
    cmd: String,
    out: Vec<String>,
    /// The doc's lines holding `out` (without trailing blank lines).
    out_lines: Range<usize>,
}

struct Block {
    /// 0-based line of the opening fence.
    fence: usize,
    /// Needs terminals (docs-run line `terminal`): a test in [`by_hand`] runs it.
    terminal: bool,
    /// The docs-run comment's lines, with their 0-based line numbers.
    setup: Vec<(usize, String)>,
    steps: Vec<Step>,
}

/// `$ cmd` (Alice), `bob$ cmd`: the device and the command.
fn prompt(line: &str) -> Option<(String, String)> {
    let (who, cmd) = line.split_once("$ ")?;
    if !who.chars().all(|c| c.is_ascii_lowercase()) {
        return None;
    }
    let who = if who.is_empty() { "alice" } else { who };
    Some((who.to_string(), cmd.trim().to_string()))
}

fn parse(doc: &str, text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    let mut setup: Option<(usize, Vec<(usize, String)>)> = None;
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if let Some(rest) = l.trim_start().strip_prefix("<!-- docs-run") {
            let start = i;
            let mut got = Vec::new();
            let mut cur = rest.strip_prefix(':').unwrap_or(rest).to_string();
            loop {
                let (body, end) = match cur.split_once("-->") {
                    Some((b, _)) => (b.to_string(), true),
                    None => (cur.clone(), false),
                };
                if !body.trim().is_empty() {
                    got.push((i, body.trim_end().to_string()));
                }
                if end {
                    break;
                }
                i += 1;
                cur = lines
                    .get(i)
                    .unwrap_or_else(|| panic!("{doc}:{}: the docs-run comment is not closed", start + 1))
                    .to_string();
            }
            setup = Some((start, got));
        } else if l.trim_end() == "```console" {
            let fence = i;
            let mut steps: Vec<Step> = Vec::new();
            i += 1;
            while i < lines.len() && lines[i].trim_end() != "```" {
                let l = lines[i];
                if let Some((who, cmd)) = prompt(l) {
                    steps.push(Step {
                        line: i,
                        who,
                        cmd,
                        out: Vec::new(),
                        out_lines: i + 1..i + 1,
                    });
                } else {
                    let step = steps
                        .last_mut()
                        .unwrap_or_else(|| panic!("{doc}:{}: output before any `$ ` command", i + 1));
                    step.out.push(l.trim_end().to_string());
                    if !l.trim().is_empty() {
                        step.out_lines.end = i + 1;
                    }
                }
                i += 1;
            }
            assert!(i < lines.len(), "{doc}:{}: the block is not closed", fence + 1);
            for s in &mut steps {
                while s.out.last().is_some_and(|l| l.is_empty()) {
                    s.out.pop();
                }
            }
            assert!(
                !steps.is_empty(),
                "{doc}:{}: a console block without a `$ ` command",
                fence + 1
            );
            let setup = setup.take().map(|(_, s)| s).unwrap_or_default();
            blocks.push(Block {
                fence,
                terminal: setup.iter().any(|(_, l)| l.trim() == "terminal"),
                setup,
                steps,
            });
        } else if let Some((at, _)) = &setup
            && !l.trim().is_empty()
        {
            panic!(
                "{doc}:{}: a docs-run comment must come right before a ```console block",
                at + 1
            );
        }
        i += 1;
    }
    blocks
}

// ---------------------------------------------------------------- running

/// A process whose stdout and stderr go to one pipe, read as it writes.
struct Proc {
    child: Child,
    out: Arc<Mutex<Vec<u8>>>,
    eof: Arc<AtomicBool>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> Proc {
        let (mut reader, writer) = std::io::pipe().expect("pipe");
        cmd.stdin(Stdio::null())
            .stdout(writer.try_clone().expect("pipe"))
            .stderr(writer);
        let child = cmd.spawn().expect("spawn sh");
        drop(cmd); // our copies of the write end: the pipe ends when the process does
        let out = Arc::new(Mutex::new(Vec::new()));
        let eof = Arc::new(AtomicBool::new(false));
        let (o, e) = (out.clone(), eof.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                o.lock().unwrap().extend_from_slice(&buf[..n]);
            }
            e.store(true, Ordering::SeqCst);
        });
        Proc { child, out, eof }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).replace("\r\n", "\n")
    }

    /// Wait for it to exit (killed after `limit`); its exit status, or None on timeout.
    fn wait(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                // A process it left running (the unlock agent) may hold the pipe: wait briefly.
                let grace = Instant::now() + Duration::from_secs(1);
                while !self.eof.load(Ordering::SeqCst) && Instant::now() < grace {
                    std::thread::sleep(Duration::from_millis(5));
                }
                return Some(st.code().unwrap_or(-1));
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Ctrl-C, as a person stops `duo sync --watch`; killed if it is still busy a second
    /// later (a push to a device that is offline finishes first, which takes up to 10 s).
    fn interrupt(&mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        self.wait(Duration::from_secs(1));
    }
}

struct Dev {
    name: String,
    home: PathBuf,
    dev: Device,
    /// The exit status of its last command, for `echo $?`.
    last: i32,
}

impl Dev {
    fn duo_home(&self) -> PathBuf {
        self.home.join(".local/share/duo")
    }
}

struct Background {
    proc: Proc,
    who: usize,
    step: usize,
}

/// A doc's lines to replace, and what with (when blessing).
type Edits = Vec<(Range<usize>, Vec<String>)>;

/// One block being run.
struct Transcript<'a> {
    doc: &'a str,
    fence: usize,
    bless: bool,
    devs: Vec<Dev>,
    env: Vec<(String, Option<String>)>,
    clock: jiff::Timestamp,
    ticks: i64,
    ids: Ids,
    /// Doc ids in the order the block's commands use them.
    order: Vec<String>,
    background: Vec<Background>,
    hidden: Vec<harness::Bg>,
    failures: Vec<String>,
    edits: Edits,
}

impl<'a> Transcript<'a> {
    fn new(doc: &'a str, b: &Block, bless: bool) -> Self {
        // What the doc writes in its setup and commands, duo may print back as it is (a file
        // name, an id prefix that matched nothing).
        let literal = b
            .setup
            .iter()
            .map(|(_, l)| l.as_str())
            .chain(b.steps.iter().map(|s| s.cmd.as_str()))
            .flat_map(|l| {
                matcher::id_tokens(l)
                    .into_iter()
                    .map(|r| l[r].to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut order = Vec::new();
        let cmds = b
            .setup
            .iter()
            .filter_map(|(_, l)| prompt(l).map(|_| l.as_str()))
            .chain(b.steps.iter().map(|s| s.cmd.as_str()));
        for c in cmds {
            for r in matcher::id_tokens(c) {
                if !order.iter().any(|o: &String| o == &c[r.clone()]) {
                    order.push(c[r].to_string());
                }
            }
        }
        Transcript {
            doc,
            fence: b.fence,
            bless,
            devs: Vec::new(),
            env: Vec::new(),
            clock: START.parse().unwrap(),
            ticks: 0,
            ids: Ids::with_literal(literal),
            order,
            background: Vec::new(),
            hidden: Vec::new(),
            failures: Vec::new(),
            edits: Vec::new(),
        }
    }

    fn at(&self, line: usize) -> String {
        format!("{}:{}", self.doc, line + 1)
    }

    fn seed(&self) -> String {
        format!("{}:{}", self.doc, self.fence)
    }

    /// The device called `name`, set up with an empty home the first time.
    fn dev(&mut self, name: &str) -> usize {
        if let Some(i) = self.devs.iter().position(|d| d.name == name) {
            return i;
        }
        let dev = Device::blank();
        let home = dev.dir.path().join(name);
        std::fs::create_dir_all(&home).unwrap();
        self.devs.push(Dev {
            name: name.to_string(),
            home,
            dev,
            last: 0,
        });
        self.devs.len() - 1
    }

    /// The clock for the next command.
    fn now(&mut self) -> String {
        let t = self.clock + jiff::SignedDuration::from_mins(self.ticks);
        self.ticks += 1;
        t.to_string()
    }

    fn base_env(&self, d: &Dev, now: &str) -> Vec<(String, String)> {
        let bin_dir = Path::new(harness::BIN).parent().unwrap();
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
        );
        [
            ("PATH", path),
            ("HOME", d.home.display().to_string()),
            ("DUO_HOME", d.duo_home().display().to_string()),
            ("DUO_RELAY", "disabled".into()),
            ("DUO_DISCOVERY", "none".into()),
            ("DUO_BIND", "127.0.0.1:0".into()),
            ("TZ", "UTC".into()),
            ("NO_COLOR", "1".into()),
            ("DUO_NOW", now.into()),
            // Cheap passphrases: the docs show what is asked and printed, not the cost.
            ("DUO_TEST_SCRYPT_LOG_N", "10".into()),
            ("DUO_BACKUP_WORK_FACTOR", "10".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// `sh -c SCRIPT` on device `i`, in its home.
    fn sh(&self, i: usize, script: &str, now: &str) -> Command {
        let d = &self.devs[i];
        let mut c = Command::new("sh");
        c.arg("-c").arg(script).current_dir(&d.home).env_clear();
        for (k, v) in self.base_env(d, now) {
            c.env(k, v);
        }
        for (k, v) in &self.env {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c
    }

    /// Prepare device `i` for the harness's helpers (pairing, hidden syncs).
    fn harness_dev(&mut self, i: usize) -> &Device {
        let now = self.now();
        let mut env: Vec<(String, String)> = self.base_env(&self.devs[i], &now);
        env.retain(|(k, _)| k != "PATH");
        env.extend(self.env.iter().filter_map(|(k, v)| Some((k.clone(), v.clone()?))));
        let d = &mut self.devs[i];
        d.dev.env = env;
        d.dev.now = Some(now);
        &self.devs[i].dev
    }

    /// The doc's paths (`/home/alice`) as they are in this run, and back.
    fn real_paths(&self, s: &str) -> String {
        let mut s = s.to_string();
        for d in &self.devs {
            s = s.replace(&format!("/home/{}", d.name), &d.home.display().to_string());
        }
        s
    }

    fn doc_paths(&self, s: &str) -> String {
        let mut s = s.to_string();
        for d in &self.devs {
            s = s.replace(&d.home.display().to_string(), &format!("/home/{}", d.name));
        }
        s
    }

    fn lines(&self, out: &str) -> Vec<String> {
        let mut v: Vec<String> = self.doc_paths(out).lines().map(|l| l.trim_end().to_string()).collect();
        while v.last().is_some_and(|l| l.is_empty()) {
            v.pop();
        }
        v
    }

    /// A command as it runs: real ids and paths, `$?` from the device's last command.
    fn command(&self, i: usize, cmd: &str) -> String {
        let script = self.real_paths(&self.ids.real_command(cmd));
        format!("(exit {}); {script}", self.devs[i].last)
    }

    /// Run a command to its end: (exit status, output lines), or why not.
    fn run(&mut self, i: usize, cmd: &str) -> Result<(i32, Vec<String>), String> {
        let now = self.now();
        let script = self.command(i, cmd);
        let mut tries = 0;
        let (p, code) = loop {
            let mut p = Proc::spawn(self.sh(i, &script, &now));
            let code = p
                .wait(LIMIT)
                .ok_or_else(|| format!("did not finish within {LIMIT:?}:\n{}", p.text()))?;
            // The device's port, kept since it first went online, can be taken for a moment
            // by another program's outgoing UDP on a busy test machine: not what a doc shows.
            tries += 1;
            if tries < 3 && p.text().contains("Failed to bind sockets") {
                eprintln!("{}: `{cmd}` could not bind its port; again", self.doc);
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
            break (p, code);
        };
        self.devs[i].last = code;
        let lines = self.lines(&p.text());
        self.bind_printed(&lines);
        Ok((code, lines))
    }

    /// Ids printed alone on a line (by `journal add`) that nothing bound take the next
    /// unbound doc id of the block's commands.
    fn bind_printed(&mut self, lines: &[String]) {
        for l in lines {
            let l = l.trim();
            if l.len() != 32 || !l.chars().all(|c| c.is_ascii_hexdigit()) || self.ids.is_bound_real(l) {
                continue;
            }
            // (A longer doc id, a device id or a file name, cannot stand for it.)
            let unbound = self.order.iter().find(|d| d.len() <= 32 && !self.ids.is_bound_doc(d));
            if let Some(d) = unbound.cloned() {
                self.ids.bind(&d, &l[..d.len()]);
            }
        }
    }

    fn fail(&mut self, msg: String) {
        self.failures.push(msg);
    }

    fn setup(&mut self, lines: &[(usize, String)]) {
        let mut k = 0;
        while k < lines.len() {
            let (line, text) = (&lines[k].0, lines[k].1.trim());
            let at = self.at(*line);
            let words: Vec<&str> = text.split_whitespace().collect();
            match words.as_slice() {
                _ if prompt(text).is_some() => {
                    let (who, cmd) = prompt(text).unwrap();
                    let i = self.dev(&who);
                    match self.run(i, &cmd) {
                        Ok((0, _)) => {}
                        Ok((code, out)) => {
                            self.fail(format!("{at}: setup `{text}` exited {code}:\n{}", out.join("\n")))
                        }
                        Err(e) => self.fail(format!("{at}: setup `{text}` {e}")),
                    }
                }
                ["now", t] => {
                    self.clock = t.parse().unwrap_or_else(|e| panic!("{at}: not a time: {e}"));
                    self.ticks = 0;
                }
                ["pair", a, b, args @ ..] => {
                    let (a, b) = (self.dev(a), self.dev(b));
                    let args: Vec<&str> = args.to_vec();
                    self.harness_dev(a);
                    self.harness_dev(b);
                    harness::pair_by_ticket(&self.devs[a].dev, &self.devs[b].dev, &args);
                }
                ["sync", a, b] => {
                    let (a, b) = (self.dev(a), self.dev(b));
                    let mut watch = self.harness_dev(b).spawn(&["sync", "--watch"]);
                    watch.wait_for("Online as", LIMIT);
                    let r = self.harness_dev(a).run_within(&["sync", "--json"], LIMIT).json();
                    assert_eq!(r["reached"], 1, "{at}: sync: {r}");
                }
                ["watch", b] => {
                    let b = self.dev(b);
                    let mut watch = self.harness_dev(b).spawn(&["sync", "--watch"]);
                    watch.wait_for("Online as", LIMIT);
                    self.hidden.push(watch);
                }
                ["env", kv] => {
                    let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("{at}: env NAME=VALUE"));
                    self.env.push((k.to_string(), Some(v.to_string())));
                }
                ["unset", k] => self.env.push((k.to_string(), None)),
                ["file", spec] => {
                    let (who, path) = spec.split_once(':').unwrap_or(("alice", spec));
                    let i = self.dev(who);
                    let mut content = String::new();
                    k += 1;
                    while k < lines.len() && lines[k].1.trim_end() != "EOF" {
                        content.push_str(&lines[k].1);
                        content.push('\n');
                        k += 1;
                    }
                    assert!(k < lines.len(), "{at}: file {spec} has no EOF line");
                    let path = self.devs[i].home.join(path);
                    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                    std::fs::write(path, content).unwrap();
                }
                _ => panic!("{at}: unknown docs-run line: {text}"),
            }
            k += 1;
        }
    }

    fn step(&mut self, k: usize, s: &Step) {
        let i = self.dev(&s.who);
        if is_background(&s.cmd) {
            let now = self.now();
            let script = format!("exec {}", self.real_paths(&self.ids.real_command(&s.cmd)));
            let mut p = Proc::spawn(self.sh(i, &script, &now));
            // Running once it has said so (its first line).
            let deadline = Instant::now() + LIMIT;
            while !p.text().contains('\n') && Instant::now() < deadline {
                if p.child.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            self.background.push(Background {
                proc: p,
                who: i,
                step: k,
            });
            return;
        }
        match self.run(i, &s.cmd) {
            Ok((code, lines)) => self.compare(s, code, lines),
            Err(e) => {
                let at = self.at(s.line);
                self.fail(format!("{at}: `{}` {e}", s.cmd))
            }
        }
    }

    /// The background commands' output, once all of it is what the doc shows (or
    /// [`BACKGROUND_LIMIT`] passed; when blessing, once they have printed nothing new for 1.5 s).
    fn finish(&mut self, steps: &[Step]) {
        let bg = std::mem::take(&mut self.background);
        let deadline = Instant::now() + BACKGROUND_LIMIT;
        let mut seen = String::new();
        let mut quiet_since = Instant::now();
        while Instant::now() < deadline {
            let outputs: Vec<String> = bg.iter().map(|b| b.proc.text()).collect();
            let done = if self.bless {
                let all = outputs.concat();
                if all != seen {
                    seen = all;
                    quiet_since = Instant::now();
                }
                quiet_since.elapsed() > Duration::from_millis(1500)
            } else {
                bg.iter().zip(&outputs).all(|(b, out)| {
                    let pats: Vec<Pattern> = steps[b.step].out.iter().map(|l| pattern(l)).collect();
                    match_lines(&pats, &self.lines(out), &self.ids).is_some()
                })
            };
            if done {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        for mut b in bg {
            b.proc.interrupt();
            self.devs[b.who].last = 130;
            let lines = self.lines(&b.proc.text());
            self.compare(&steps[b.step], 130, lines);
        }
        self.hidden.clear();
    }

    fn compare(&mut self, s: &Step, code: i32, actual: Vec<String>) {
        let seed = self.seed();
        let Some((diff, blessed)) = check(&s.out, s.out_lines.start, &actual, &mut self.ids, self.bless, &seed) else {
            return;
        };
        if self.bless {
            self.edits.push((s.out_lines.clone(), blessed));
            return;
        }
        let unbound: Vec<&str> = matcher::id_tokens(&s.cmd)
            .into_iter()
            .map(|r| &s.cmd[r])
            .filter(|t| !self.ids.is_bound_doc(t))
            .collect();
        let note = if unbound.is_empty() {
            String::new()
        } else {
            format!(
                "\n  note: {} stood for no id of this run yet (no output before showed it)",
                unbound.join(", ")
            )
        };
        let who = if s.who == "alice" { String::new() } else { s.who.clone() };
        self.fail(format!(
            "{}: `{who}$ {}` (in the block at line {}) printed something else (exit {code}); - is the doc, + is duo:\n{diff}{note}",
            self.at(s.line),
            s.cmd,
            self.fence + 1,
        ));
    }

    fn run_block(mut self, b: &Block) -> (Vec<String>, Edits) {
        self.dev("alice");
        self.setup(&b.setup);
        if self.failures.is_empty() {
            for (k, s) in b.steps.iter().enumerate() {
                self.step(k, s);
            }
            self.finish(&b.steps);
        }
        // An unlock agent started by the block is not left running.
        if b.steps.iter().any(|s| s.cmd.contains("unlock")) {
            for i in 0..self.devs.len() {
                let now = self.now();
                let _ = Proc::spawn(self.sh(i, "duo lock", &now)).wait(LIMIT);
            }
        }
        (self.failures, self.edits)
    }
}

/// Compare what a command printed with the doc's `expected` lines (the first on the doc's
/// 0-based line `first`). None when they match (`ids` then holds what they bound); otherwise
/// a diff (` ` the same, `-` only in the doc, `+` only in duo's output, with the doc's ids)
/// and the doc's lines rewritten with duo's output (new ids get doc ids only when blessing).
fn check(
    expected: &[String],
    first: usize,
    actual: &[String],
    ids: &mut Ids,
    bless: bool,
    seed: &str,
) -> Option<(String, Vec<String>)> {
    let pats: Vec<Pattern> = expected.iter().map(|l| pattern(l)).collect();
    if let Some(bound) = match_lines(&pats, actual, ids) {
        *ids = bound;
        return None;
    }
    let edits = align(&pats, actual, ids);
    // A changed line keeps the doc's ids: new ids take those of the lines they replace.
    let reuse: Vec<String> = edits
        .iter()
        .filter_map(|e| match e {
            Edit::Gone(p) => Some(&expected[*p]),
            _ => None,
        })
        .flat_map(|l| {
            matcher::id_tokens(l)
                .into_iter()
                .map(|r| l[r].to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut diff = Vec::new();
    let mut blessed = Vec::new();
    for e in edits {
        match e {
            Edit::Same(p, a) => {
                if let Some(bound) = matcher::match_line(&pats[p], &actual[a], ids) {
                    *ids = bound;
                }
                diff.push(format!("  {:>5}   {}", first + p + 1, expected[p]));
                blessed.push(expected[p].clone());
            }
            Edit::Skip(p, _) => {
                diff.push(format!("  {:>5}   {}", first + p + 1, expected[p]));
                blessed.push(expected[p].clone());
            }
            Edit::Gone(p) => diff.push(format!("  {:>5} - {}", first + p + 1, expected[p])),
            Edit::New(a) if bless => {
                let line = ids.doc_line(&actual[a], seed, &reuse);
                diff.push(format!("        + {line}"));
                blessed.push(line);
            }
            Edit::New(a) => diff.push(format!("        + {}", ids.clone().doc_line(&actual[a], seed, &reuse))),
        }
    }
    Some((diff.join("\n"), blessed))
}

/// Commands that run until stopped: in the background, as in a terminal of their own.
fn is_background(cmd: &str) -> bool {
    let w: Vec<&str> = cmd.split_whitespace().collect();
    w.contains(&"duo") && w.contains(&"sync") && w.contains(&"--watch")
}

/// Run the console blocks of `text` (the doc `doc`): the failures, and when blessing the
/// doc with duo's output written in (None when nothing changed).
fn run_text(doc: &str, text: &str, bless: bool) -> (Vec<String>, Option<String>) {
    let mut blocks: Vec<Block> = parse(doc, text).into_iter().filter(|b| !b.terminal).collect();
    // The slow ones (pairing) first, so that the quick ones fill the time they wait.
    blocks.sort_by_key(|b| !b.setup.iter().any(|(_, l)| l.trim_start().starts_with("pair ")));
    let started = Instant::now();
    // A few blocks at a time: most of a block's time is waiting (pairing, a sync's timeout).
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| {
                while let Some(b) = blocks.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let t = Instant::now();
                    let (f, e) = Transcript::new(doc, b, bless).run_block(b);
                    eprintln!("{doc}:{}: {:?}", b.fence + 1, t.elapsed());
                    results.lock().unwrap().push((b.fence, f, e));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|r| r.0);
    let failures: Vec<String> = results.iter().flat_map(|r| r.1.clone()).collect();
    let mut edits: Edits = results.into_iter().flat_map(|r| r.2).collect();
    eprintln!("{doc}: {} blocks in {:?}", blocks.len(), started.elapsed());
    if edits.is_empty() {
        return (failures, None);
    }
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    for (r, new) in &edits {
        lines.splice(r.clone(), new.iter().cloned());
    }
    eprintln!("{doc}: wrote duo's output into {} places", edits.len());
    (failures, Some(lines.join("\n") + "\n"))
}

/// Run every console block of `doc` (relative to the repository); with `DUO_DOCS_BLESS`
/// set, write what duo printed into the doc.
fn run_doc(doc: &str) {
    let path = repo().join(doc);
    let text = std::fs::read_to_string(&path).unwrap();
    let all = parse(doc, &text);
    assert!(all.iter().any(|b| !b.terminal), "{doc} has no ```console block");
    for b in all.iter().filter(|b| b.terminal) {
        let first = (b.steps[0].who.as_str(), doc, b.steps[0].cmd.as_str());
        assert!(
            by_hand::TERMINAL_BLOCKS.contains(&first),
            "{doc}:{}: no test in docs_run::by_hand runs this terminal block",
            b.fence + 1
        );
    }
    let bless = std::env::var_os(BLESS).is_some_and(|v| !v.is_empty());
    let (failures, blessed) = run_text(doc, &text, bless);
    if let Some(new) = blessed {
        std::fs::write(&path, new).unwrap();
    }
    assert!(
        failures.is_empty(),
        "{} example(s) in {doc} no longer match what duo prints:\n\n{}\n\nIf duo is right, `{BLESS}=1 cargo test --test e2e docs_run::` (or `just bless-docs`, which also regenerates docs/man) writes its output into the docs; then review the diff.",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The runner itself: a stale example fails naming its doc and line with a diff, blessing
/// writes duo's output in (keeping the doc's ids and redactions), and the blessed doc passes.
#[test]
fn a_stale_example_fails_with_a_diff_and_blessing_fixes_it() {
    let doc = "\
# An example

<!-- docs-run
$ duo init --name Alice --label laptop
-->
```console
$ duo journal add \"a walk by the river\"
3f9c2a1b7d4e4c0f9a8b1e2d3c4b5a69
Saved!
$ duo journal list
3f9c2a1b  [..]  reflection  Alice
    a walk by the sea
$ duo journal show 3f9c
...
a walk by the river
```
";
    let (failures, blessed) = run_text("example.md", doc, false);
    assert!(blessed.is_none(), "nothing is written unless blessing");
    assert_eq!(failures.len(), 2, "{failures:#?}");
    assert!(
        failures[0].starts_with("example.md:7: `$ duo journal add \"a walk by the river\"`"),
        "{}",
        failures[0]
    );
    assert!(
        failures[0].contains("      9 - Saved!\n        + Saved."),
        "{}",
        failures[0]
    );
    assert!(
        failures[1].contains("     12 -     a walk by the sea\n        +     a walk by the river"),
        "{}",
        failures[1]
    );

    let (failures, blessed) = run_text("example.md", doc, true);
    assert!(failures.is_empty(), "{failures:#?}");
    let blessed = blessed.expect("blessing writes");
    assert!(
        blessed.contains("3f9c2a1b7d4e4c0f9a8b1e2d3c4b5a69\nSaved.\n"),
        "the doc's id stays:\n{blessed}"
    );
    assert!(
        blessed.contains("3f9c2a1b  [..]  reflection  Alice\n    a walk by the river\n"),
        "{blessed}"
    );
    assert!(blessed.contains("$ duo journal show 3f9c\n...\n"), "{blessed}");
    let (failures, again) = run_text("example.md", &blessed, false);
    assert!(failures.is_empty() && again.is_none(), "{failures:#?}");
}

#[test]
fn the_readme_transcripts_run() {
    run_doc("README.md");
}

#[test]
fn the_cli_reference_transcripts_run() {
    run_doc("docs/cli.md");
}
