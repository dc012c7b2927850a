//! Helpers shared by the duo-device test binaries and the sync benchmark: devices in
//! temporary homes, introducing them to each other as pairing would, writing and reading
//! entries. (Each test binary uses a subset.)
#![allow(dead_code)]

use duo_device::{Home, Opened};
use duo_journal::{Device, Kind, NewEntry, Person};

/// A device set up as `name` in a temporary home (kept while the `TempDir` lives).
pub fn device(name: &str) -> (tempfile::TempDir, Opened) {
    let dir = tempfile::tempdir().unwrap();
    let opened = Home::new(dir.path().join("home")).init(name, "laptop", 1_000).unwrap();
    (dir, opened)
}

/// Make `a` know `b`'s person and device (what pairing does).
pub fn introduce(a: &Opened, b: &Opened) {
    let person = Person {
        id: b.config.person_id.clone(),
        name: b.config.name.clone(),
    };
    let dev = Device {
        id: b.config.device_id.clone(),
        person: b.config.person_id.clone(),
        label: "laptop".into(),
        added_at: 1,
    };
    a.space.update(|doc| doc.restore_identity(&person, &dev)).unwrap();
}

/// A new reflection by `o`'s person on `o`'s device.
pub fn new_entry(o: &Opened, body: &str) -> NewEntry {
    NewEntry {
        id: duo_journal::new_id(),
        kind: Kind::Reflection,
        author: o.config.person_id.clone(),
        device: o.config.device_id.clone(),
        created_at: 5,
        edited_at: 5,
        body: body.into(),
        tags: vec![],
        status: None,
        no_replies: false,
        prompt: None,
    }
}

/// Write an entry into `o`'s shared space; returns its id.
pub fn write(o: &Opened, body: &str) -> String {
    let e = new_entry(o, body);
    let id = e.id.clone();
    o.space.add(&[e], &o.sealer()).unwrap();
    id
}

/// The bodies in `o`'s shared space, sorted.
pub fn bodies(o: &Opened) -> Vec<String> {
    let mut v: Vec<String> = o
        .space
        .read()
        .unwrap()
        .view
        .entries
        .values()
        .map(|e| e.body.clone())
        .collect();
    v.sort();
    v
}

/// An AsyncWrite that keeps a copy of everything written (a transcript of one side).
pub struct Tee<W> {
    pub inner: W,
    pub copy: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl<W: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Tee<W> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let res = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if let std::task::Poll::Ready(Ok(n)) = &res {
            self.copy.lock().unwrap().extend_from_slice(&buf[..*n]);
        }
        res
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A session's hello (postcard, as `session.rs` encodes it, declared once for the tests that
/// play a peer by hand): no assumed shared heads, announcing `heads` and the change hashes
/// in `sample`, with no kept heads and no changes.
pub fn hello(heads: Vec<[u8; 32]>, sample: Vec<[u8; 32]>) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Hello {
        base: [u8; 8],
        heads: Vec<[u8; 32]>,
        kept: Vec<u32>,
        sample: Vec<[u8; 32]>,
        changes: Vec<Vec<u8>>,
    }
    postcard::to_allocvec(&Hello {
        base: [0; 8],
        heads,
        kept: vec![],
        sample,
        changes: vec![],
    })
    .unwrap()
}

pub mod crafted;
