//! The unlock agent: a `duo` background process that holds a locked device's keys in
//! memory for one session and hands them to the device's own commands.
//!
//! - It listens on a unix socket `keys/agent.sock` inside the device home (the `keys`
//!   directory is 0700, the socket 0600) and answers only processes of its own user.
//! - It exits after an idle time (15 minutes by default; every request restarts it), on
//!   `duo lock`, or when the device is no longer locked; it then removes its socket.
//! - It is started by `duo unlock`, which passes it the keys on a pipe (never argv, env or
//!   disk). It asks the kernel not to dump or swap it (best effort).
//!
//! Protocol: one line per connection, `keys` (answer: the key text) or `stop`.

use crate::home::Home;
use age::secrecy::zeroize::Zeroize;
use age::secrecy::{ExposeSecret, SecretString};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long an agent keeps the keys without being asked for them.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(15 * 60);

/// The agent's socket.
pub fn socket_path(home: &Home) -> PathBuf {
    home.root().join("keys").join("agent.sock")
}

fn ask(home: &Home, request: &str) -> Option<SecretString> {
    let mut s = UnixStream::connect(socket_path(home)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(format!("{request}\n").as_bytes()).ok()?;
    s.shutdown(std::net::Shutdown::Write).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(SecretString::from(out))
}

/// The keys, if an agent holds them for this home.
pub fn fetch(home: &Home) -> Option<SecretString> {
    ask(home, "keys").filter(|t| !t.expose_secret().trim().is_empty())
}

/// Ask the agent to forget the keys and exit. Returns whether one was running.
pub fn stop(home: &Home) -> bool {
    let running = ask(home, "stop").is_some();
    // Wait (bounded) until it has removed its socket.
    let deadline = Instant::now() + Duration::from_secs(3);
    while running && socket_path(home).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    running
}

/// Harden this process for holding secrets: no core dumps or ptrace by other processes of
/// the same user ([`crate::process::no_core_dumps`]), memory locked against swap where the
/// limits allow.
pub fn harden() {
    let _ = crate::process::no_core_dumps(); // best effort, as the rest
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls with constant arguments; failures are ignored (best effort).
    unsafe {
        // Detached from the terminal: a closed terminal must not end the session early
        // or late, only the idle time and `duo lock` do.
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE);
    }
}

fn same_user(s: &UnixStream) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
        let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `cred`, which is that large.
        let rc = unsafe {
            libc::getsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PEERCRED,
                (&mut cred as *mut libc::ucred).cast(),
                &mut len,
            )
        };
        // SAFETY: getuid cannot fail.
        rc == 0 && cred.uid == unsafe { libc::getuid() }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = s;
        true
    }
}

/// Bind the socket: refuses when a live agent already answers; a stale socket file left
/// by a killed agent is replaced.
pub fn bind(home: &Home) -> std::io::Result<UnixListener> {
    let path = socket_path(home);
    if path.exists() {
        if UnixStream::connect(&path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "an agent already holds this device's keys",
            ));
        }
        std::fs::remove_file(&path)?;
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serve the keys until idle for `idle`, told to stop, or the device is no longer locked.
pub fn serve(home: &Home, listener: UnixListener, keys: SecretString, idle: Duration) -> std::io::Result<()> {
    let path = socket_path(home);
    listener.set_nonblocking(true)?;
    let mut last = Instant::now();
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                if !same_user(&s) {
                    continue;
                }
                let _ = s.set_nonblocking(false);
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut line = String::new();
                let _ = BufReader::new(&s).take(64).read_line(&mut line);
                match line.trim() {
                    "keys" => {
                        let mut out = keys.expose_secret().as_bytes().to_vec();
                        let _ = (&s).write_all(&out);
                        out.zeroize();
                        last = Instant::now();
                    }
                    "stop" => break,
                    _ => {}
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if last.elapsed() >= idle || !crate::lock::is_locked(home) || !path.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    drop(keys);
    let _ = std::fs::remove_file(&path);
    Ok(())
}
