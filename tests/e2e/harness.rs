//! A temporary home per device, a cleared environment, and helpers to run `duo`.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_duo");

/// Output of one run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from_output(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Assert success and return stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        &self.stdout
    }

    /// Assert failure with this exit code; return stderr.
    #[track_caller]
    pub fn fails(&self, code: i32) -> &str {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        &self.stderr
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
    }
}

/// One device: a temporary home and a clean environment.
pub struct Device {
    pub dir: tempfile::TempDir,
    pub now: Option<String>,
    pub env: Vec<(String, String)>,
    /// Run every command inside this network namespace (see `netlab`).
    pub netns: Option<String>,
}

impl Device {
    /// A device that has not run `init` yet.
    pub fn blank() -> Device {
        Device {
            dir: tempfile::tempdir().expect("tempdir"),
            now: None,
            env: Vec::new(),
            netns: None,
        }
    }

    /// A device set up as `name`.
    pub fn new(name: &str) -> Device {
        let d = Device::blank();
        d.run(&["init", "--name", name, "--label", "laptop"]).ok();
        d
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        match &self.netns {
            Some(ns) => self.command_in(ns, args),
            None => self.command_via(Command::new(BIN), args),
        }
    }

    /// `duo` run inside a network namespace (`ip netns exec NS duo …`).
    pub fn command_in(&self, netns: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", netns, BIN]);
        self.command_via(c, args)
    }

    fn command_via(&self, mut c: Command, args: &[&str]) -> Command {
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DUO_HOME", self.home())
            .env("DUO_RELAY", "disabled")
            .env("DUO_DISCOVERY", "none")
            // Loopback only: tests in the root namespace never use the real network.
            .env("DUO_BIND", "127.0.0.1:0")
            .env("TZ", "UTC")
            .env("NO_COLOR", "1");
        if let Some(now) = &self.now {
            c.env("DUO_NOW", now);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Run with stdin closed (not a terminal, empty).
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from_output(self.command(args).stdin(Stdio::null()).output().expect("run duo"))
    }

    /// Run with `input` on stdin.
    pub fn run_stdin(&self, args: &[&str], input: &str) -> Run {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn duo");
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        Run::from_output(child.wait_with_output().unwrap())
    }

    /// Add an entry; return its full id.
    pub fn add(&self, text: &str, extra: &[&str]) -> String {
        let mut args = vec!["journal", "add", text];
        args.extend_from_slice(extra);
        let r = self.run(&args);
        r.ok().trim().to_string()
    }

    /// `journal list --json` with extra args.
    pub fn list(&self, extra: &[&str]) -> Vec<serde_json::Value> {
        let mut args = vec!["journal", "list", "--json"];
        args.extend_from_slice(extra);
        self.run(&args).json().as_array().expect("array").clone()
    }

    pub fn bodies(&self, extra: &[&str]) -> Vec<String> {
        self.list(extra)
            .iter()
            .map(|e| e["body"].as_str().unwrap().to_string())
            .collect()
    }
}

impl Device {
    /// Run with stdin closed; a run that takes longer than `limit` is killed and fails the
    /// test (a hang is a defect, not a slow network).
    #[track_caller]
    pub fn run_within(&self, args: &[&str], limit: Duration) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn duo");
        let out = read_in_background(child.stdout.take().unwrap());
        let err = read_in_background(child.stderr.take().unwrap());
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`duo {}` did not finish within {limit:?}", args.join(" "));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Run {
            code: status.code().unwrap_or(-1),
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
        }
    }

    /// Start a long-running command (stdout discarded, stderr collected); it is killed when
    /// the returned guard is dropped, also when the test fails.
    pub fn spawn(&self, args: &[&str]) -> Bg {
        Bg::start(self.command(args), &format!("duo {}", args.join(" ")))
    }
}

impl Bg {
    /// [`Device::spawn`] for a command prepared by the caller (limits, another user...).
    pub fn start(mut command: Command, what: &str) -> Bg {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn duo");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        Bg {
            child,
            log,
            what: what.to_string(),
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

fn read_in_background(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    })
}

/// A `duo` process running in the background; killed (SIGKILL) when dropped.
pub struct Bg {
    child: Child,
    log: Arc<Mutex<String>>,
    what: String,
}

impl Bg {
    /// What it printed on stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Wait until stderr contains `needle` (e.g. the watcher's "Online as"); fail the test
    /// if the process exits or `limit` passes first.
    #[track_caller]
    pub fn wait_for(&mut self, needle: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.log().contains(needle) {
            if let Some(st) = self.child.try_wait().unwrap() {
                panic!(
                    "`{}` exited ({st}) before printing {needle:?}:\n{}",
                    self.what,
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "`{}` did not print {needle:?} within {limit:?}:\n{}",
                self.what,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait until it has exited (e.g. after it said it stops); fail the test if it has not
    /// within `limit`.
    #[track_caller]
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "`{}` did not exit within {limit:?}:\n{}",
                self.what,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Fail the test if it has exited.
    #[track_caller]
    pub fn assert_running(&mut self) {
        if let Some(st) = self.child.try_wait().unwrap() {
            panic!("`{}` exited ({st}):\n{}", self.what, self.log());
        }
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `duo pair --ticket --yes` (plus `extra`) on `d`; return the process and the ticket
/// it printed on the first line of stdout.
pub fn start_invite(d: &Device, extra: &[&str]) -> (Child, String) {
    let mut args = vec!["pair", "--ticket", "--yes"];
    args.extend_from_slice(extra);
    spawn_invite(d.command(&args))
}

/// Spawn `c`, a `duo pair --ticket` command; return the process and the ticket it printed
/// on the first line of stdout.
pub fn spawn_invite(mut c: Command) -> (Child, String) {
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("duo1:"), "ticket on the first line of stdout: {line}");
    (child, line.trim().to_string())
}

/// Wait for a `duo pair` started by [`start_invite`]; killed if it does not end within
/// 120 s (it serves the joiner's first sync for up to 60 s after pairing, so this only
/// catches a hang).
pub fn finish_invite(mut child: Child) -> Run {
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let mut stderr = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
            panic!("duo pair did not finish:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    Run {
        code: child.wait().unwrap().code().unwrap_or(-1),
        stdout: String::new(),
        stderr,
    }
}

/// The verification words a pairing printed on stderr.
pub fn words(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("Verification words: "))
        .unwrap_or_default()
        .to_string()
}

/// Alice and Bob, each on a fresh device, paired as partners by ticket.
pub fn paired() -> (Device, Device) {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    (alice, bob)
}

/// Pair `joiner` with `inviter` by ticket (`extra`: e.g. `--own-device`); both confirm,
/// both see the same words, the code never shows on stderr. Returns both runs (inviter,
/// joiner).
pub fn pair_by_ticket(inviter: &Device, joiner: &Device, extra: &[&str]) -> (Run, Run) {
    let (child, ticket) = start_invite(inviter, extra);
    let joined = joiner.run_stdin(&["pair", "join", "--ticket", "--yes"], &format!("{ticket}\n"));
    eprintln!("pair join: {}", joined.stderr.trim_end().replace('\n', " | "));
    if joined.code != 0 {
        let invited = finish_invite(child);
        panic!(
            "pair join failed\njoiner:\n{}\ninviter:\n{}",
            joined.stderr, invited.stderr
        );
    }
    let invited = finish_invite(child);
    assert_eq!(invited.code, 0, "{}", invited.stderr);
    assert_eq!(words(&invited.stderr).split(' ').count(), 4);
    assert_eq!(
        words(&invited.stderr),
        words(&joined.stderr),
        "both screens show the same words"
    );
    let secret = ticket.split('#').nth(1).unwrap();
    assert!(
        !invited.stderr.contains(secret) && !joined.stderr.contains(secret),
        "the code is never on stderr"
    );
    (invited, joined)
}

/// Does any of the device's age files under `dir`, decrypted with stock `age` and its own
/// key, contain `needle`? `None` when `age` is not installed (outside CI).
pub fn decrypted_contains(d: &Device, dir: &str, needle: &str) -> Option<bool> {
    if !have_tool("age") {
        return None;
    }
    let found = files_under(&d.home().join(dir))
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "age"))
        .any(|f| {
            let out = age_decrypt(d, &f);
            assert!(out.status.success(), "age -d {}", f.display());
            out.stdout.windows(needle.len()).any(|w| w == needle.as_bytes())
        });
    Some(found)
}

/// `age -d` of file `f` with the device's own key (`keys/age.key`); the caller checks how
/// it went.
pub fn age_decrypt(d: &Device, f: &Path) -> Output {
    Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(d.home().join("keys/age.key"))
        .arg(f)
        .output()
        .unwrap()
}

/// Write a shell script (a stand-in for an editor) at `path`, executable.
pub fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A passphrase file for `d` (its path), and scrypt at a work factor tests can afford.
pub fn with_passphrase(d: &mut Device) -> String {
    d.env.push(("DUO_TEST_SCRYPT_LOG_N".into(), "12".into()));
    let pw = d.dir.path().join("pw");
    std::fs::write(&pw, "a long enough passphrase\n").unwrap();
    pw.to_str().unwrap().to_string()
}

/// Every regular file below `dir`.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Does any file below `dir` contain `needle`?
pub fn any_file_contains(dir: &Path, needle: &str) -> Option<PathBuf> {
    files_under(dir).into_iter().find(|p| {
        std::fs::read(p)
            .map(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
            .unwrap_or(false)
    })
}

/// Run `duo` on a pseudo-terminal (util-linux `script`), so that stdin is a terminal (it
/// opens `$EDITOR`, asks its questions); `input` is typed at it.
pub fn run_on_tty(d: &Device, args: &[&str], input: &str) -> Run {
    use std::io::Write;
    let mut child = on_tty(d, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run script");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    Run::from_output(child.wait_with_output().unwrap())
}

/// `duo` with `args` on a pseudo-terminal (util-linux `script`), with `d`'s environment;
/// the caller sets up stdio.
pub fn on_tty(d: &Device, args: &[&str]) -> Command {
    let line = std::iter::once(BIN)
        .chain(args.iter().copied())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    shell_on_tty(d, &line)
}

/// The shell command `line` on a pseudo-terminal (util-linux `script`), with `d`'s
/// environment; the caller sets up stdio.
pub fn shell_on_tty(d: &Device, line: &str) -> Command {
    let c = d.command(&[]);
    let envs: Vec<(std::ffi::OsString, std::ffi::OsString)> = c
        .get_envs()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned())))
        .collect();
    let mut script = Command::new("script");
    script.args(["-qec", line, "/dev/null"]).env_clear().envs(envs);
    script
}

/// Is a tool on PATH? Under CI a missing tool is a failure, elsewhere the caller skips.
pub fn have_tool(name: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false);
    if !found && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{name} is required under CI (.ci/run installs it)");
    }
    if !found {
        eprintln!("skipping: {name} is not installed");
    }
    found
}
