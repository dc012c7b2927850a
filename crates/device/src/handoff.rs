//! One endpoint per device. A device's network key must never be bound by two processes
//! at once (two endpoints with one key fight over the same peers), so every command that
//! goes online first claims `<home>/local/online.lock`:
//!
//! - free: the command takes it and binds the endpoint itself;
//! - held by `duo sync --watch`: the watcher listens on `<home>/local/online.sock` (0600,
//!   in the 0700 home), and the command hands its work over: `sync` asks the watcher to
//!   sync now and prints the watcher's results; `pair` asks it to step aside, pairs, and
//!   the watcher comes back online when the pairing process has finished;
//! - held by another one-shot command (`sync`, `pair`): the command waits for it.
//!
//! The socket speaks one JSON line each way; it carries no secret (no code, key or entry).
//!
//! A running watcher also listens on `<home>/local/wrote.sock`, a datagram socket (0600):
//! every time the shared space makes a chunk durable, in any process, the store sends it
//! one datagram (a writer id, [`crate::AgeStore::writer`], nothing else) without waiting
//! ([`notify_written`]), and the watcher pushes to the other devices at once.

use crate::SyncError;
use crate::device::PeerResult;
use crate::net::Report;
use crate::session::Outcome;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

const LOCK: &str = "local/online.lock";
const SOCKET: &str = "local/online.sock";
/// Where a running watcher hears of writes to the shared space (relative to the home).
pub const WROTE_SOCKET: &str = "local/wrote.sock";
/// How long a hand-off waits for the watcher's answer (a sync dials every peer at once,
/// each with 4 s to answer).
const ANSWER_WITHIN: Duration = Duration::from_secs(300);

fn io(path: &Path, source: std::io::Error) -> SyncError {
    SyncError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// This process owns the device's endpoint while this lives.
#[derive(Debug)]
pub struct OnlineLock {
    _file: File,
    /// The watcher that stepped aside for us, kept connected until we are done.
    _paused: Option<UnixStream>,
}

/// The result of [`claim`].
#[derive(Debug)]
pub enum Claim {
    /// Go online yourself.
    Mine(OnlineLock),
    /// `duo sync --watch` is online on this device: hand the work to it.
    Watcher(Watcher),
}

/// A connection to the running watcher.
#[derive(Debug)]
pub struct Watcher {
    stream: UnixStream,
}

fn lock_file(root: &Path) -> Result<File, SyncError> {
    let path = root.join(LOCK);
    crate::store::open_lock_file(&path).map_err(|e| io(&path, e))
}

/// Try once: the lock, else a watcher.
fn try_claim(root: &Path) -> Result<Option<Claim>, SyncError> {
    let file = lock_file(root)?;
    match file.try_lock() {
        Ok(()) => {
            return Ok(Some(Claim::Mine(OnlineLock {
                _file: file,
                _paused: None,
            })));
        }
        Err(std::fs::TryLockError::WouldBlock) => {}
        Err(std::fs::TryLockError::Error(e)) => return Err(io(&root.join(LOCK), e)),
    }
    match UnixStream::connect(root.join(SOCKET)) {
        Ok(stream) => {
            stream.set_read_timeout(Some(ANSWER_WITHIN)).ok();
            Ok(Some(Claim::Watcher(Watcher { stream })))
        }
        Err(_) => Ok(None),
    }
}

/// Claim the device's endpoint for this process. `waiting` is called once if another
/// command holds it (this then waits until it is done).
pub fn claim(root: &Path, waiting: impl FnOnce()) -> Result<Claim, SyncError> {
    let mut waiting = Some(waiting);
    loop {
        if let Some(c) = try_claim(root)? {
            return Ok(c);
        }
        if let Some(w) = waiting.take() {
            w();
        }
        std::thread::sleep(Duration::from_millis(150));
    }
}

/// Claim the endpoint for this process even if a watcher runs: it is asked to step aside
/// until this process is done (the returned lock keeps it waiting).
pub fn claim_exclusive(root: &Path, waiting: impl FnOnce()) -> Result<OnlineLock, SyncError> {
    let mut waiting = Some(waiting);
    loop {
        match claim(root, || {
            if let Some(w) = waiting.take() {
                w()
            }
        })? {
            Claim::Mine(lock) => return Ok(lock),
            Claim::Watcher(w) => {
                let stream = w.pause()?;
                // The watcher let go of the lock; take it before anyone else does.
                let file = lock_file(root)?;
                for _ in 0..100 {
                    match file.try_lock() {
                        Ok(()) => {
                            return Ok(OnlineLock {
                                _file: file,
                                _paused: Some(stream),
                            });
                        }
                        Err(std::fs::TryLockError::WouldBlock) => std::thread::sleep(Duration::from_millis(50)),
                        Err(std::fs::TryLockError::Error(e)) => return Err(io(&root.join(LOCK), e)),
                    }
                }
            }
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Request {
    Sync,
    Pause,
    Addresses,
    Refresh,
    Lock,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct PeerLine {
    device: String,
    label: String,
    person: String,
    error: Option<String>,
    not_paired: bool,
    #[serde(default)]
    added: Vec<String>,
    #[serde(default)]
    edited: Vec<String>,
    #[serde(default)]
    deleted: Vec<String>,
    entries_after: usize,
    bytes_sent: u64,
    bytes_received: u64,
    rounds: u32,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
enum Answer {
    Synced { peers: Vec<PeerLine> },
    Paused,
    Addresses { addrs: Vec<std::net::SocketAddr> },
    Refreshed,
    Locking,
    Failed { error: String },
}

impl Watcher {
    fn ask(&mut self, req: &Request) -> Result<Answer, SyncError> {
        let path = PathBuf::from(SOCKET);
        let mut line = serde_json::to_string(req).expect("serializes");
        line.push('\n');
        self.stream.write_all(line.as_bytes()).map_err(|e| io(&path, e))?;
        let mut answer = String::new();
        BufReader::new(&self.stream)
            .read_line(&mut answer)
            .map_err(|e| io(&path, e))?;
        serde_json::from_str(&answer).map_err(|_| {
            SyncError::Net("`duo sync --watch` on this device stopped before it answered; try again".into())
        })
    }

    /// Ask the watcher to sync with every peer now; its results.
    pub fn sync(mut self) -> Result<Vec<PeerResult>, SyncError> {
        match self.ask(&Request::Sync)? {
            Answer::Synced { peers } => Ok(peers.into_iter().map(PeerResult::from).collect()),
            Answer::Failed { error } => Err(SyncError::Net(error)),
            _ => Err(SyncError::Net("unexpected answer from `duo sync --watch`".into())),
        }
    }

    /// The addresses the watcher's endpoint is bound to.
    pub fn addresses(mut self) -> Result<Vec<std::net::SocketAddr>, SyncError> {
        match self.ask(&Request::Addresses)? {
            Answer::Addresses { addrs } => Ok(addrs),
            Answer::Failed { error } => Err(SyncError::Net(error)),
            _ => Err(SyncError::Net("unexpected answer from `duo sync --watch`".into())),
        }
    }

    /// Ask the watcher to take a change to the devices of the space (a revocation) into
    /// force now and pass it on; it answers at once, before any device is dialled.
    pub fn refresh(mut self) -> Result<(), SyncError> {
        match self.ask(&Request::Refresh)? {
            Answer::Refreshed => Ok(()),
            Answer::Failed { error } => Err(SyncError::Net(error)),
            _ => Err(SyncError::Net("unexpected answer from `duo sync --watch`".into())),
        }
    }

    /// Tell the watcher that duo was locked: it goes offline and drops its keys.
    pub fn lock(mut self) -> Result<(), SyncError> {
        match self.ask(&Request::Lock)? {
            Answer::Locking => Ok(()),
            Answer::Failed { error } => Err(SyncError::Net(error)),
            _ => Err(SyncError::Net("unexpected answer from `duo sync --watch`".into())),
        }
    }

    /// Ask the watcher to go offline until the returned connection is closed.
    fn pause(mut self) -> Result<UnixStream, SyncError> {
        match self.ask(&Request::Pause)? {
            Answer::Paused => Ok(self.stream),
            Answer::Failed { error } => Err(SyncError::Net(error)),
            _ => Err(SyncError::Net("unexpected answer from `duo sync --watch`".into())),
        }
    }
}

impl From<PeerLine> for PeerResult {
    fn from(l: PeerLine) -> Self {
        let result = match (l.error, l.not_paired) {
            (Some(_), true) => Err(SyncError::NotPaired),
            (Some(e), false) => Err(SyncError::Net(e)),
            (None, _) => Ok(Report {
                outcome: Outcome {
                    rounds: l.rounds,
                    bytes_sent: l.bytes_sent,
                    bytes_received: l.bytes_received,
                    ..Outcome::default()
                },
                entries: duo_journal::EntryChanges {
                    added: l.added,
                    edited: l.edited,
                    deleted: l.deleted,
                },
                entries_after: l.entries_after,
            }),
        };
        PeerResult {
            device: l.device,
            label: l.label,
            person: l.person,
            result,
        }
    }
}

impl From<&PeerResult> for PeerLine {
    fn from(r: &PeerResult) -> Self {
        let ok = r.result.as_ref().ok();
        PeerLine {
            device: r.device.clone(),
            label: r.label.clone(),
            person: r.person.clone(),
            error: r.result.as_ref().err().map(ToString::to_string),
            not_paired: matches!(r.result, Err(SyncError::NotPaired)),
            added: ok.map(|x| x.entries.added.clone()).unwrap_or_default(),
            edited: ok.map(|x| x.entries.edited.clone()).unwrap_or_default(),
            deleted: ok.map(|x| x.entries.deleted.clone()).unwrap_or_default(),
            entries_after: ok.map_or(0, |x| x.entries_after),
            bytes_sent: ok.map_or(0, |x| x.outcome.bytes_sent),
            bytes_received: ok.map_or(0, |x| x.outcome.bytes_received),
            rounds: ok.map_or(0, |x| x.outcome.rounds),
        }
    }
}

/// The watcher's side: the socket other commands reach it on, and the one writes to the
/// shared space are announced on.
pub struct Listening {
    root: PathBuf,
    wrote: tokio::net::UnixDatagram,
    /// The writer id of the watcher's own store.
    own: Option<String>,
    /// Requests read off the socket, each with its connection. The connections are accepted
    /// and read by tasks of their own, so a request is never lost when the watcher's loop
    /// picks another event while one is half read ([`Listening::next`] is cancel-safe).
    requests: tokio::sync::Mutex<tokio::sync::mpsc::Receiver<(Request, tokio::net::UnixStream)>>,
    accepting: tokio::task::JoinHandle<()>,
}

/// What another command asked the watcher for, or told it.
pub enum Asked {
    /// The shared space has a new chunk (`by_other`: not written through the watcher's own
    /// store, i.e. not what its sessions stored).
    Wrote { by_other: bool },
    /// Sync now and answer with the results.
    Sync(Reply),
    /// Go offline; come back once `Reply::paused_until_done` returns.
    Pause(Reply),
    /// Say where the endpoint is bound.
    Addresses(Reply),
    /// The devices of the space changed here: take it into force and push.
    Refresh(Reply),
    /// duo was locked: stop, so the keys can be dropped.
    Lock(Reply),
}

/// Where the watcher's answer goes.
pub struct Reply(tokio::net::UnixStream);

impl Listening {
    /// Listen for hand-offs and write notices (the caller holds the lock); `own` is the
    /// writer id of the watcher's own store. A socket left by a watcher that died is replaced.
    pub fn bind(root: &Path, own: Option<&str>) -> Result<Listening, SyncError> {
        let bind = |name: &str| {
            let path = root.join(name);
            let _ = std::fs::remove_file(&path);
            Ok::<_, SyncError>(path)
        };
        let path = bind(SOCKET)?;
        let listener = tokio::net::UnixListener::bind(&path).map_err(|e| io(&path, e))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(|e| io(&path, e))?;
        let wrote_path = bind(WROTE_SOCKET)?;
        let wrote = tokio::net::UnixDatagram::bind(&wrote_path).map_err(|e| io(&wrote_path, e))?;
        std::fs::set_permissions(&wrote_path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io(&wrote_path, e))?;
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let accepting = tokio::spawn(accept(listener, tx));
        Ok(Listening {
            root: root.to_path_buf(),
            wrote,
            own: own.map(str::to_string),
            requests: tokio::sync::Mutex::new(rx),
            accepting,
        })
    }

    /// Forget the write notices waiting to be read (a push is about to start, and it takes
    /// in everything written so far); whether any came from another process.
    pub fn drain_notices(&self) -> bool {
        let mut by_other = false;
        let mut buf = [0u8; 32];
        while let Ok(n) = self.wrote.try_recv(&mut buf) {
            by_other |= self.by_other(&buf[..n]);
        }
        by_other
    }

    /// Whether a write notice names another writer than the watcher's own store (anything
    /// else counts as another's: a notice is only ever a reason to push).
    fn by_other(&self, datagram: &[u8]) -> bool {
        self.own.as_ref().is_none_or(|own| own.as_bytes() != datagram)
    }

    /// The next request or write notice (requests that are not understood are dropped).
    /// Cancel-safe: when another event is picked first, nothing waiting is lost.
    pub async fn next(&self) -> Asked {
        let mut buf = [0u8; 32];
        loop {
            let asked = async { self.requests.lock().await.recv().await };
            tokio::select! {
                got = self.wrote.recv(&mut buf) => match got {
                    Ok(n) => return Asked::Wrote { by_other: self.by_other(&buf[..n]) },
                    Err(_) => continue,
                },
                Some((request, stream)) = asked => {
                    return match request {
                        Request::Sync => Asked::Sync(Reply(stream)),
                        Request::Pause => Asked::Pause(Reply(stream)),
                        Request::Addresses => Asked::Addresses(Reply(stream)),
                        Request::Refresh => Asked::Refresh(Reply(stream)),
                        Request::Lock => Asked::Lock(Reply(stream)),
                    };
                }
            }
        }
    }
}

/// Accept connections on the watcher's socket, each read by a task of its own: one line of
/// at most 64 KiB within 5 s, a request that is understood, or the connection is dropped.
async fn accept(
    listener: tokio::net::UnixListener,
    requests: tokio::sync::mpsc::Sender<(Request, tokio::net::UnixStream)>,
) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors, say: try again in a moment.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let requests = requests.clone();
        tokio::spawn(async move {
            let mut reader = tokio::io::BufReader::new(stream);
            let mut line = String::new();
            let read =
                tokio::time::timeout(Duration::from_secs(5), (&mut reader).take(1 << 16).read_line(&mut line)).await;
            if !matches!(read, Ok(Ok(n)) if n > 0) {
                return;
            }
            if let Ok(request) = serde_json::from_str::<Request>(&line) {
                let _ = requests.send((request, reader.into_inner())).await;
            }
        });
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.accepting.abort();
        let _ = std::fs::remove_file(self.root.join(SOCKET));
        let _ = std::fs::remove_file(self.root.join(WROTE_SOCKET));
    }
}

/// Tell a running watcher (listening on `socket`, see [`WROTE_SOCKET`]) that `writer` (a
/// store's writer id) made a new chunk of the shared space durable. Never waits and never
/// fails: without a watcher there is no socket (or nobody reads it), and a full queue
/// means a notice is already waiting.
pub fn notify_written(socket: &Path, writer: &str) {
    let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    if sock.set_nonblocking(true).is_ok() {
        let _ = sock.send_to(writer.as_bytes(), socket);
    }
}

impl Reply {
    async fn send(&mut self, answer: &Answer) {
        use tokio::io::AsyncWriteExt;
        let mut line = serde_json::to_string(answer).expect("serializes");
        line.push('\n');
        let _ = self.0.write_all(line.as_bytes()).await;
    }

    /// Answer a sync request.
    pub async fn synced(mut self, results: Result<&[PeerResult], String>) {
        let answer = match results {
            Ok(r) => Answer::Synced {
                peers: r.iter().map(PeerLine::from).collect(),
            },
            Err(error) => Answer::Failed { error },
        };
        self.send(&answer).await;
    }

    /// Answer a refresh request.
    pub async fn refreshed(mut self) {
        self.send(&Answer::Refreshed).await;
    }

    /// Answer a lock request.
    pub async fn locking(mut self) {
        self.send(&Answer::Locking).await;
    }

    /// Answer an address request.
    pub async fn addresses(mut self, addrs: Vec<std::net::SocketAddr>) {
        self.send(&Answer::Addresses { addrs }).await;
    }

    /// Say the endpoint is closed and the lock released, then wait until the command that
    /// asked is done (it closes the connection, or its process ends).
    pub async fn paused_until_done(mut self) {
        use tokio::io::AsyncReadExt;
        self.send(&Answer::Paused).await;
        let mut buf = [0u8; 64];
        while matches!(self.0.read(&mut buf).await, Ok(n) if n > 0) {}
    }
}

/// The running watcher, if any (without waiting for anything).
pub fn watcher(root: &Path) -> Option<Watcher> {
    let stream = UnixStream::connect(root.join(SOCKET)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    Some(Watcher { stream })
}

/// Take the lock for a watcher, waiting while another command holds it.
pub async fn lock_for_watch(root: &Path) -> Result<OnlineLock, SyncError> {
    let file = lock_file(root)?;
    let path = root.join(LOCK);
    tokio::task::spawn_blocking(move || file.lock().map(|_| file))
        .await
        .map_err(|e| SyncError::Net(e.to_string()))?
        .map(|file| OnlineLock {
            _file: file,
            _paused: None,
        })
        .map_err(|e| io(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use duo_journal::EntryChanges;

    fn answered(line: &str) -> Vec<PeerResult> {
        match serde_json::from_str(line).unwrap() {
            Answer::Synced { peers } => peers.into_iter().map(PeerResult::from).collect(),
            _ => panic!("not a sync answer: {line}"),
        }
    }

    /// A command that connects while the watcher is busy with something else, and whose
    /// request arrives after the watcher's loop picked another event, is still answered:
    /// it used to get "Broken pipe" (the half-read connection was dropped with the loop's
    /// branch), for instance from `duo sync` right after `duo journal add`.
    #[tokio::test]
    async fn a_request_is_not_lost_when_the_watcher_picks_another_event_first() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("local")).unwrap();
        let listening = Listening::bind(dir.path(), Some("mine")).unwrap();
        let mut client = UnixStream::connect(dir.path().join(SOCKET)).unwrap();
        // The loop waits for the next request, and something else happens first.
        let waited = tokio::time::timeout(Duration::from_millis(100), listening.next()).await;
        assert!(waited.is_err(), "nothing was asked yet");
        client.write_all(b"{\"op\":\"addresses\"}\n").unwrap();
        let asked = tokio::time::timeout(Duration::from_secs(5), listening.next())
            .await
            .expect("the request waits for the next turn of the loop");
        let Asked::Addresses(reply) = asked else {
            panic!("not the request that was sent")
        };
        reply.addresses(vec!["127.0.0.1:9".parse().unwrap()]).await;
        let mut answer = String::new();
        BufReader::new(&client).read_line(&mut answer).unwrap();
        assert!(answer.contains("127.0.0.1:9"), "{answer}");
        // Write notices still arrive beside the requests, the watcher's own told apart.
        notify_written(&dir.path().join(WROTE_SOCKET), "mine");
        let own = tokio::time::timeout(Duration::from_secs(5), listening.next())
            .await
            .unwrap();
        assert!(matches!(own, Asked::Wrote { by_other: false }));
        notify_written(&dir.path().join(WROTE_SOCKET), "another");
        let other = tokio::time::timeout(Duration::from_secs(5), listening.next())
            .await
            .unwrap();
        assert!(matches!(other, Asked::Wrote { by_other: true }));
    }

    /// What a watcher synced for another command reaches that command whole: the entries
    /// received, edited and deleted (by id), the bytes, and a failure as that failure.
    #[test]
    fn a_handed_off_sync_says_what_changed_as_the_watcher_saw_it() {
        let report = Report {
            outcome: Outcome {
                rounds: 1,
                bytes_sent: 10,
                bytes_received: 20,
                ..Outcome::default()
            },
            entries: EntryChanges {
                added: vec!["a1".into(), "a2".into()],
                edited: vec!["e1".into()],
                deleted: vec!["d1".into()],
            },
            entries_after: 7,
        };
        let peer = |result| PeerResult {
            device: "dev".into(),
            label: "phone".into(),
            person: "Bob".into(),
            result,
        };
        let sent = [peer(Ok(report.clone())), peer(Err(SyncError::NotPaired))];
        let line = serde_json::to_string(&Answer::Synced {
            peers: sent.iter().map(PeerLine::from).collect(),
        })
        .unwrap();
        let got = answered(&line);
        assert_eq!(got[0].result.as_ref().unwrap(), &report);
        assert!(matches!(got[1].result, Err(SyncError::NotPaired)));

        // The answer of a watcher from before the counts still reads (nothing counted).
        let older = r#"{"answer":"synced","peers":[{"device":"dev","label":"phone","person":"Bob","error":null,"not_paired":false,"entries_before":3,"entries_after":2,"bytes_sent":1,"bytes_received":2,"rounds":1}]}"#;
        assert!(answered(older)[0].result.as_ref().unwrap().entries.is_empty());
    }
}
