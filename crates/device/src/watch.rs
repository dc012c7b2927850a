//! `duo sync --watch` as a library: stay online, answer the other devices, and pass every
//! change on as soon as it is made.
//!
//! [`watch`] claims nothing itself (the caller holds the device's [`OnlineLock`]); it binds
//! the endpoint, serves `duo/sync/2`, and pushes to every known device of the space:
//!
//! - at once when another process (or another opening of the home) writes the shared
//!   space: every chunk the space's store makes durable sends a datagram to
//!   `<home>/local/wrote.sock` ([`crate::handoff::notify_written`]), so a `duo journal add`
//!   wakes it. The store is never polled;
//! - after a session brought changes (one a device opened, or one of its pushes), once it
//!   has been reported: to the other devices (the sender has it all), so what one device
//!   sends reaches the others;
//! - once when it goes online (what was written while no watcher ran);
//! - again after [`Options::retry_first`], doubling up to [`Options::retry_max`], while a
//!   push leaves devices unreached; there is no timer otherwise.
//!
//! It also answers the commands that hand their work to it ([`crate::handoff`]), steps
//! aside for `duo pair`, and stops when asked (`stop`) or when the device left the space.
//! Everything that happens is reported as an [`Event`]; the caller only prints them.

use crate::device::{Dial, NetOptions, Online, PeerResult, RelayReach, sync_all, sync_states};
use crate::handoff::{Asked, Listening, OnlineLock, Reply, lock_for_watch};
use crate::membership::Notice;
use crate::net::{Discovery, Report, SYNC_ANNOUNCEMENT, SyncOptions};
use crate::{Opened, SyncError};
use n0_future::StreamExt;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

/// How a watcher goes online and retries.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where to bind and which relay to use.
    pub net: NetOptions,
    /// Announce this device on the local network and look the peers up there (mDNS).
    pub mdns: bool,
    /// How long going online waits for the relay (if any) to accept this device.
    pub relay_wait: Duration,
    /// The first pause before pushing again to devices a push did not reach; doubled after
    /// each failed attempt up to [`Options::retry_max`].
    pub retry_first: Duration,
    pub retry_max: Duration,
}

impl Options {
    /// The defaults: 5 s for the relay; retries after 2, 4, 8, then every 15 s.
    pub fn new(net: NetOptions, mdns: bool) -> Options {
        Options {
            net,
            mdns,
            relay_wait: Duration::from_secs(5),
            retry_first: Duration::from_secs(2),
            retry_max: Duration::from_secs(15),
        }
    }
}

/// A device of the space, as the space names it (the partner's words: untrusted text).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Peer {
    /// Its endpoint id (hex).
    pub device: String,
    pub label: String,
    pub person: String,
}

/// What a watcher reports.
#[derive(Clone, Debug)]
pub enum Event {
    /// Online and answering, at these addresses.
    Online { label: String, addrs: Vec<SocketAddr> },
    /// A relay is configured and did not accept this device within `waited` (devices on
    /// other networks cannot reach it through the relay).
    RelayUnreachable {
        relay: String,
        error: Option<String>,
        waited: Duration,
    },
    /// Another process wrote to the shared space; a push starts now.
    LocalWrite,
    /// Dialling this device now (a push, or a retry); a [`Event::Synced`] or
    /// [`Event::Unreached`] for it follows. Devices are dialled at once, each on its own.
    Dialing { peer: Peer },
    /// A session with a device completed: one this watcher dialled (a push, `dialed`) or
    /// one the device opened. `report.entries` is what it did to this device's entries.
    Synced { peer: Peer, dialed: bool, report: Report },
    /// A push did not reach this device; all unreached devices are tried again in `retry_in`.
    Unreached {
        peer: Peer,
        error: String,
        retry_in: Duration,
    },
    /// A safety notice not acknowledged yet (a device added or revoked): shown once per
    /// online period, and by every command until `duo devices ack`.
    Notice(Notice),
    /// Together-answers that were waiting for the partner's went out.
    AnswersShared(usize),
    /// Another command on this device (e.g. `duo pair`) needs the endpoint: offline until
    /// it is done.
    SteppingAside,
    /// Back from [`Event::SteppingAside`] (going online again follows).
    BackOnline,
    /// This device left the shared space; the watcher stopped.
    Left,
    /// `duo lock` was run on this device: the watcher went offline and stopped, so its
    /// keys can be dropped (the caller waits for `duo unlock`).
    Locked,
    /// Stopped as asked.
    Stopped,
}

/// How [`watch`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// `stop` completed.
    Stopped,
    /// The device left the shared space (`duo leave`, for which it had stepped aside).
    Left,
    /// `duo lock` asked it to stop (see [`Event::Locked`]).
    Locked,
}

/// Why [`watch`] failed.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// Binding the endpoint failed (another program may hold the port).
    #[error("could not go online: {0}")]
    GoingOnline(#[source] SyncError),
    #[error(transparent)]
    Failed(#[from] SyncError),
}

/// Why one online period ended.
enum Offline {
    Stop,
    /// `duo lock` was run.
    Locked,
    /// Another command on this device asked for the endpoint.
    Pause(Reply),
}

/// Run a watcher for `o` until `stop` completes (or the device leaves the space), holding
/// the device's endpoint (`lock`, from [`crate::handoff::claim`]). Every [`Event`] goes to
/// `on` as it happens.
pub async fn watch(
    o: &Opened,
    options: &Options,
    lock: OnlineLock,
    stop: impl Future<Output = ()>,
    mut on: impl FnMut(Event),
) -> Result<End, WatchError> {
    let root = o.home.root();
    let mut lock = Some(lock);
    tokio::pin!(stop);
    loop {
        if lock.is_none() {
            tokio::select! {
                _ = &mut stop => {
                    on(Event::Stopped);
                    return Ok(End::Stopped);
                }
                l = lock_for_watch(root) => lock = Some(l?),
            }
            on(Event::BackOnline);
        }
        let listening = Listening::bind(root, o.space.storage().writer())?;
        let online = go_online(o, options, &mut on).await?;
        let offline = match Watching::new(o, options, &online, &listening, &mut on)
            .run(&mut stop)
            .await
        {
            // The keys went away under it (`duo lock` stops the agent, then tells the
            // watcher): the same as being told.
            Err(SyncError::Locked) => Ok(Offline::Locked),
            other => other,
        };
        let bound = online.endpoint.bound_sockets();
        online.endpoint.close().await;
        drop(online); // the last handle: the port is freed once its tasks have ended
        if matches!(offline, Ok(Offline::Pause(_))) {
            port_released(&bound).await;
        }
        drop(listening);
        match offline? {
            Offline::Stop => {
                on(Event::Stopped);
                return Ok(End::Stopped);
            }
            Offline::Locked => {
                on(Event::Locked);
                return Ok(End::Locked);
            }
            Offline::Pause(reply) => {
                drop(lock.take()); // released before answering, so the asker can take it
                on(Event::SteppingAside);
                tokio::select! {
                    _ = &mut stop => {
                        on(Event::Stopped);
                        return Ok(End::Stopped);
                    }
                    _ = reply.paused_until_done() => {}
                }
                // `duo leave` may have been what this watcher stepped aside for.
                if !root.exists() || crate::membership::left_at(o).ok().flatten().is_some() {
                    on(Event::Left);
                    return Ok(End::Left);
                }
            }
        }
    }
}

/// Bind the endpoint (announcing this device by mDNS when asked) and, with a relay, wait
/// (bounded) until the relay accepted it.
async fn go_online(o: &Opened, options: &Options, on: &mut impl FnMut(Event)) -> Result<Online, WatchError> {
    let discovery = if options.mdns {
        Discovery::Mdns {
            advertise: Some(SYNC_ANNOUNCEMENT.to_string()),
        }
    } else {
        Discovery::None
    };
    let online = Online::bind_with(o, &options.net, false, discovery)
        .await
        .map_err(WatchError::GoingOnline)?;
    if let RelayReach::Unreachable { relay, error } = online.wait_for_relay(options.relay_wait).await {
        on(Event::RelayUnreachable {
            relay,
            error,
            waited: options.relay_wait,
        });
    }
    Ok(online)
}

/// Wait (at most 2 s) until the UDP ports of a closed endpoint can be bound again, so the
/// command the watcher steps aside for does not find them still taken.
async fn port_released(bound: &[SocketAddr]) {
    for _ in 0..40 {
        if bound.iter().all(|a| std::net::UdpSocket::bind(a).is_ok()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One online period of a watcher.
struct Watching<'a, F: FnMut(Event)> {
    o: &'a Opened,
    options: &'a Options,
    online: &'a Online,
    listening: &'a Listening,
    on: &'a mut F,
    /// The devices of the space by endpoint id, to name the ones that open sessions.
    peers: BTreeMap<String, Peer>,
    /// Devices a push did not reach: when to dial each again, and the pause before that.
    retry_at: BTreeMap<String, Instant>,
    pause: BTreeMap<String, Duration>,
    /// Devices being dialled now, and those to dial again once that dial ended (something
    /// new was written meanwhile).
    dialing: BTreeSet<String>,
    again: BTreeSet<String>,
    /// A push to make: to every device but these (which have everything this one has).
    push: Option<BTreeSet<String>>,
    /// The safety notices this online period reported already (each is shown again by the
    /// next command until `duo devices ack`).
    shown: BTreeSet<Notice>,
}

/// What a push running beside the watcher's loop tells it.
enum Pushing {
    /// Dialling this device now.
    Dialing(String),
    /// This device was to be dialled and has no known address.
    NoAddress(String),
    /// This dial ended.
    Done(Box<(Dial, PeerResult)>),
    /// The push could not start (the space could not be read, the device left).
    Failed(SyncError),
}

type Running<'a, T> = n0_future::FuturesUnordered<std::pin::Pin<Box<dyn Future<Output = T> + 'a>>>;

impl<'a, F: FnMut(Event)> Watching<'a, F> {
    fn new(o: &'a Opened, options: &'a Options, online: &'a Online, listening: &'a Listening, on: &'a mut F) -> Self {
        Watching {
            o,
            options,
            online,
            listening,
            on,
            peers: BTreeMap::new(),
            retry_at: BTreeMap::new(),
            pause: BTreeMap::new(),
            dialing: BTreeSet::new(),
            again: BTreeSet::new(),
            // What was written while no watcher ran goes out when it is online.
            push: Some(BTreeSet::new()),
            shown: BTreeSet::new(),
        }
    }

    /// Plan a push to every device but `skip`; with one planned already, to the devices
    /// either would reach.
    fn push_to_all_but(&mut self, skip: BTreeSet<String>) {
        self.push = Some(match self.push.take() {
            None => skip,
            Some(planned) => planned.intersection(&skip).cloned().collect(),
        });
    }

    /// Plan a push to `only` these devices.
    fn push_to(&mut self, only: &BTreeSet<String>) {
        let skip = self.peers.keys().filter(|d| !only.contains(*d)).cloned().collect();
        self.push_to_all_but(skip);
    }

    /// Start the planned push beside the loop: every device it names that is not being
    /// dialled already is dialled at once; one being dialled is dialled again when that
    /// dial ends. Each dial reports on `tx` as it ends, so a device that does not answer
    /// holds up nothing else.
    fn start_push(
        &mut self,
        skip: BTreeSet<String>,
        tx: &tokio::sync::mpsc::UnboundedSender<Pushing>,
    ) -> Option<std::pin::Pin<Box<dyn Future<Output = ()> + 'a>>> {
        let me = self.o.config.device_id.clone();
        let wanted: BTreeSet<String> = self
            .peers
            .keys()
            .filter(|d| **d != me && !skip.contains(*d))
            .cloned()
            .collect();
        self.again.extend(wanted.intersection(&self.dialing).cloned());
        let now: BTreeSet<String> = wanted.difference(&self.dialing).cloned().collect();
        if now.is_empty() {
            return None;
        }
        self.dialing.extend(now.iter().cloned());
        let skip: BTreeSet<String> = self.peers.keys().filter(|d| !now.contains(*d)).cloned().collect();
        let (o, online, tx) = (self.o, self.online, tx.clone());
        Some(Box::pin(async move {
            let dials = match crate::device::dials(o, online, &skip).await {
                Ok(d) => d,
                Err(e) => {
                    let _ = tx.send(Pushing::Failed(e));
                    return;
                }
            };
            for d in now.iter().filter(|d| !dials.iter().any(|x| x.device == **d)) {
                let _ = tx.send(Pushing::NoAddress(d.clone()));
            }
            let Ok(states) = sync_states(o) else {
                for d in &dials {
                    let _ = tx.send(Pushing::NoAddress(d.device.clone()));
                }
                return;
            };
            let options = SyncOptions {
                states: Some(&states),
                progress: None,
                replica: Some(&online.replica),
            };
            n0_future::join_all(dials.into_iter().map(|d| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(Pushing::Dialing(d.device.clone()));
                    let r = crate::device::dial(o, online, options, &d).await;
                    let _ = tx.send(Pushing::Done(Box::new((d, r))));
                }
            }))
            .await;
        }))
    }

    async fn run(mut self, stop: &mut std::pin::Pin<&mut impl Future<Output = ()>>) -> Result<Offline, SyncError> {
        // The space in memory from the start: sessions then load only what is new.
        let _ = self.online.replica.preload(&self.o.space).await;
        self.name_peers(&self.o.space.read_members()?);
        let (router, mut served) = self.online.serve_sync(self.o);
        (self.on)(Event::Online {
            label: self.o.config.device_label.clone(),
            addrs: self.online.addrs(),
        });
        let (tx, mut pushing) = tokio::sync::mpsc::unbounded_channel();
        let mut pushes: Running<'a, ()> = Default::default();
        let mut asked_syncs: Running<'a, Result<Vec<PeerResult>, SyncError>> = Default::default();
        let offline = loop {
            if let Some(skip) = self.push.take() {
                // Writes announced so far are in this push (it loads everything written).
                if self.listening.drain_notices() {
                    (self.on)(Event::LocalWrite);
                }
                if let Some(push) = self.start_push(skip, &tx) {
                    pushes.push(push);
                }
                continue;
            }
            let retry_at = self.retry_at.values().min().copied();
            tokio::select! {
                _ = &mut *stop => break Offline::Stop,
                asked = self.listening.next() => match asked {
                    // This process's own stores are what its sessions brought: passed on
                    // below, once each session has been reported.
                    Asked::Wrote { by_other } => {
                        if by_other {
                            (self.on)(Event::LocalWrite);
                            self.push_to_all_but(BTreeSet::new());
                        }
                    }
                    Asked::Sync(reply) => {
                        // Beside the loop too: the asker waits for its sync, nothing else does.
                        let (o, online) = (self.o, self.online);
                        asked_syncs.push(Box::pin(async move {
                            let results = sync_all(o, online, None).await;
                            match &results {
                                Ok(r) => reply.synced(Ok(r)).await,
                                Err(e) => reply.synced(Err(e.to_string())).await,
                            }
                            results
                        }));
                    }
                    Asked::Refresh(reply) => {
                        // A device was revoked or added here: in force now, passed on by a push.
                        let view = self.o.space.read_members()?;
                        self.online.refresh_members_from(self.o, &view)?;
                        self.name_peers(&view);
                        reply.refreshed().await;
                        self.push_to_all_but(BTreeSet::new());
                    }
                    Asked::Lock(reply) => {
                        reply.locking().await;
                        break Offline::Locked;
                    }
                    Asked::Pause(reply) => break Offline::Pause(reply),
                    Asked::Addresses(reply) => reply.addresses(self.online.addrs()).await,
                },
                Some(msg) = pushing.recv() => match msg {
                    Pushing::Dialing(device) => {
                        let peer = self.peer(&device);
                        (self.on)(Event::Dialing { peer });
                    }
                    Pushing::NoAddress(device) => self.dial_ended(&device),
                    Pushing::Done(done) => {
                        let (d, r) = *done;
                        self.dial_ended(&d.device);
                        crate::device::after_dials(self.o, &[(&d, &r)])?;
                        self.pushed(std::slice::from_ref(&r))?;
                    }
                    Pushing::Failed(e) => return Err(e),
                },
                Some(()) = pushes.next(), if !pushes.is_empty() => {}
                Some(results) = asked_syncs.next(), if !asked_syncs.is_empty() => {
                    // A failure was the asker's to report; the watcher carries on.
                    if let Ok(results) = &results {
                        self.pushed(results)?;
                    }
                }
                Some((id, result)) = served.recv() => {
                    // A session that failed changed nothing here.
                    if let Ok(report) = result {
                        let device = id.to_string();
                        let peer = self.peer(&device);
                        let received = report.outcome.changes_received > 0;
                        (self.on)(Event::Synced { peer, dialed: false, report });
                        if received {
                            self.received()?;
                            // Passed on to the other devices: the sender has it all.
                            self.push_to_all_but(BTreeSet::from([device]));
                        }
                    }
                }
                _ = tokio::time::sleep_until(retry_at.unwrap_or_else(Instant::now)), if retry_at.is_some() => {
                    let now = Instant::now();
                    let due: BTreeSet<String> = self.retry_at.iter().filter(|(_, at)| **at <= now).map(|(d, _)| d.clone()).collect();
                    self.retry_at.retain(|d, _| !due.contains(d));
                    self.push_to(&due);
                }
            }
        };
        // Dials still running are dropped here: stepping aside or stopping never waits
        // for a device that does not answer.
        drop(pushes);
        drop(asked_syncs);
        let _ = router.shutdown().await;
        Ok(offline)
    }

    /// The device `device` as the space names it (its id alone before its record arrived).
    fn peer(&self, device: &str) -> Peer {
        self.peers.get(device).cloned().unwrap_or(Peer {
            device: device.to_string(),
            ..Peer::default()
        })
    }

    /// A dial of `device` ended: dial it again if something was written meanwhile.
    fn dial_ended(&mut self, device: &str) {
        self.dialing.remove(device);
        if self.again.remove(device) {
            self.push_to(&BTreeSet::from([device.to_string()]));
        }
    }

    /// Report dials' results, plan the retry of each device they did not reach (its pause
    /// doubling up to [`Options::retry_max`]), and pass on what they brought.
    fn pushed(&mut self, results: &[PeerResult]) -> Result<(), SyncError> {
        let mut senders = BTreeSet::new();
        for r in results {
            let peer = Peer {
                device: r.device.clone(),
                label: r.label.clone(),
                person: r.person.clone(),
            };
            match &r.result {
                Ok(report) => {
                    self.pause.remove(&r.device);
                    self.retry_at.remove(&r.device);
                    if report.outcome.changes_received > 0 {
                        senders.insert(r.device.clone());
                    }
                    (self.on)(Event::Synced {
                        peer,
                        dialed: true,
                        report: report.clone(),
                    });
                }
                Err(e) => {
                    let pause = self
                        .pause
                        .get(&r.device)
                        .map_or(self.options.retry_first, |p| (*p * 2).min(self.options.retry_max));
                    self.pause.insert(r.device.clone(), pause);
                    self.retry_at.insert(r.device.clone(), Instant::now() + pause);
                    (self.on)(Event::Unreached {
                        peer,
                        error: e.to_string(),
                        retry_in: pause,
                    });
                }
            }
        }
        if !senders.is_empty() {
            self.received()?;
            // The devices dialled before a sender lack what it sent: once more to all but
            // the sender (with several senders, each lacks the others').
            if senders.len() > 1 {
                senders.clear();
            }
            self.push_to_all_but(senders);
        }
        Ok(())
    }

    /// After a session brought changes: let newly paired devices in, name them, tell of new
    /// device records, and share together-answers the partner's answer was waiting for.
    fn received(&mut self) -> Result<(), SyncError> {
        let view = self.o.space.read_members()?;
        self.online.refresh_members_from(self.o, &view)?;
        self.name_peers(&view);
        // Every safety notice not acknowledged yet (`duo devices ack`), once per watcher run.
        if let Ok(trust) = crate::membership::trust(self.o) {
            let c = view.members();
            let m = crate::membership::membership(&c, &trust);
            for notice in crate::membership::notices(&c, &trust, &m) {
                if self.shown.insert(notice.clone()) {
                    (self.on)(Event::Notice(notice));
                }
            }
        }
        let shared = self.o.settle_answers();
        if shared > 0 {
            (self.on)(Event::AnswersShared(shared));
            self.push_to_all_but(BTreeSet::new());
        }
        Ok(())
    }

    fn name_peers(&mut self, view: &duo_journal::View) {
        self.peers = view
            .devices
            .iter()
            .map(|(id, d)| {
                let peer = Peer {
                    device: id.clone(),
                    label: d.label.clone(),
                    person: view.person_name(&d.person),
                };
                (id.clone(), peer)
            })
            .collect();
    }
}
