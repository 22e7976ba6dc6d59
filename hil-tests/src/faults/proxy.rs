//! The proxy itself: a listener on 127.0.0.1 (or any address), one upstream, and per connection two
//! lanes that read, ask their [`Lane`] what to do, and write. It runs on a runtime of its own in its own
//! thread, so sync and async tests use it alike; the fault is changed while it runs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::plan::{Admit, Fault, Lane, Verdict, admit};

/// What the proxy did, counted as it happened.
#[derive(Debug, Default)]
struct Stats {
    accepted: AtomicU64,
    open: AtomicU64,
    refused: AtomicU64,
    upstream_failed: AtomicU64,
    resets: AtomicU64,
    drops: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    delayed_chunks: AtomicU64,
    held_bytes: AtomicU64,
    flipped_bytes: AtomicU64,
}

/// A snapshot of what the proxy did since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Connections accepted from clients.
    pub accepted: u64,
    /// Connections open now.
    pub open: u64,
    /// Connections reset on arrival ([`Fault::Refuse`]).
    pub refused: u64,
    /// Connections reset because the upstream refused them.
    pub upstream_failed: u64,
    /// Connections reset midway ([`Fault::Reset`] and [`FaultProxy::reset_all`]).
    pub resets: u64,
    /// Connections closed midway ([`Fault::Drop`]).
    pub drops: u64,
    /// Bytes written to the upstream, and to clients.
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// Chunks sent later than they were read (latency, bandwidth).
    pub delayed_chunks: u64,
    /// Bytes held in a blackhole.
    pub held_bytes: u64,
    pub flipped_bytes: u64,
}

struct Shared {
    upstream: String,
    seed: u64,
    epoch: Instant,
    fault: watch::Sender<Fault>,
    /// Bumped by [`FaultProxy::reset_all`].
    resets: watch::Sender<u64>,
    stats: Stats,
}

/// A running proxy; stopped (every connection closed) on drop.
pub struct FaultProxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// On a free port of 127.0.0.1 in front of `upstream`, passing traffic until told otherwise.
    pub fn start(upstream: impl ToString, seed: u64) -> FaultProxy {
        let any: SocketAddr = ([127, 0, 0, 1], 0).into();
        FaultProxy::bind(any, &upstream.to_string(), seed).expect("bind 127.0.0.1:0")
    }

    /// On `listen` in front of `upstream` (`host:port`, resolved at each connection).
    pub fn bind(listen: SocketAddr, upstream: &str, seed: u64) -> std::io::Result<FaultProxy> {
        let listener = std::net::TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream: upstream.to_owned(),
            seed,
            epoch: Instant::now(),
            fault: watch::Sender::new(Fault::Pass),
            resets: watch::Sender::new(0),
            stats: Stats::default(),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let s = shared.clone();
        let thread =
            std::thread::Builder::new().name(format!("fault-proxy-{}", addr.port())).spawn(move || {
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(listener).expect("a listener in this runtime");
                    tokio::select! {
                        _ = accept_loop(listener, s) => {}
                        _ = stopped => {}
                    }
                });
            })?;
        Ok(FaultProxy { addr, shared, stop: Some(stop), thread: Some(thread) })
    }

    /// From now on, every chunk and new connection gets `fault`.
    pub fn set(&self, fault: Fault) {
        self.shared.fault.send_replace(fault);
    }

    pub fn fault(&self) -> Fault {
        self.shared.fault.borrow().clone()
    }

    /// Resets every connection open now, both ways.
    pub fn reset_all(&self) {
        self.shared.resets.send_modify(|n| *n += 1);
    }

    pub fn counts(&self) -> Counts {
        let s = &self.shared.stats;
        Counts {
            accepted: s.accepted.load(Relaxed),
            open: s.open.load(Relaxed),
            refused: s.refused.load(Relaxed),
            upstream_failed: s.upstream_failed.load(Relaxed),
            resets: s.resets.load(Relaxed),
            drops: s.drops.load(Relaxed),
            bytes_up: s.bytes_up.load(Relaxed),
            bytes_down: s.bytes_down.load(Relaxed),
            delayed_chunks: s.delayed_chunks.load(Relaxed),
            held_bytes: s.held_bytes.load(Relaxed),
            flipped_bytes: s.flipped_bytes.load(Relaxed),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut id = 0u64;
    loop {
        let Ok((client, _)) = listener.accept().await else {
            // Out of descriptors, most likely: let some close.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        id += 1;
        shared.stats.accepted.fetch_add(1, Relaxed);
        tokio::spawn(serve(client, shared.clone(), id));
    }
}

/// How a connection or one of its lanes ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The sender closed its side, and that was passed on.
    Eof,
    /// A socket failed.
    Broken,
    Close,
    Reset,
}

async fn serve(client: TcpStream, shared: Arc<Shared>, id: u64) {
    let stats = &shared.stats;
    stats.open.fetch_add(1, Relaxed);
    let mut faults = shared.fault.subscribe();
    let mut resets = shared.resets.subscribe();
    let server = loop {
        let verdict = admit(&faults.borrow_and_update());
        match verdict {
            Admit::Connect => match TcpStream::connect(shared.upstream.as_str()).await {
                Ok(server) => break Some(server),
                Err(_) => {
                    stats.upstream_failed.fetch_add(1, Relaxed);
                    break None;
                }
            },
            Admit::Reset => {
                stats.refused.fetch_add(1, Relaxed);
                break None;
            }
            Admit::Wait => tokio::select! {
                _ = faults.changed() => {}
                _ = resets.changed() => {
                    stats.resets.fetch_add(1, Relaxed);
                    break None;
                }
            },
        }
    };
    // Refused, reset while waiting, or the upstream refused: the client sees an RST, as from a port
    // nobody listens on.
    let Some(server) = server else {
        let _ = client.set_zero_linger();
        stats.open.fetch_sub(1, Relaxed);
        return;
    };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (mut c_read, mut c_write) = client.into_split();
    let (mut s_read, mut s_write) = server.into_split();
    let end = {
        let up = pump(&mut c_read, &mut s_write, &shared, Lane::new(shared.seed ^ (id << 1)), true);
        let down = pump(&mut s_read, &mut c_write, &shared, Lane::new(shared.seed ^ (id << 1 | 1)), false);
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        loop {
            let end = tokio::select! {
                e = &mut up, if !up_done => { up_done = true; e }
                e = &mut down, if !down_done => { down_done = true; e }
                _ = resets.changed() => End::Reset,
            };
            if end != End::Eof || (up_done && down_done) {
                break end;
            }
        }
    };
    match end {
        End::Reset => {
            stats.resets.fetch_add(1, Relaxed);
            let _ = c_write.as_ref().set_zero_linger();
            let _ = s_write.as_ref().set_zero_linger();
            // Dropping a write half sends a FIN first; forgotten, the socket closes with the read half,
            // and the zero linger makes that close an RST.
            c_write.forget();
            s_write.forget();
        }
        End::Close => {
            stats.drops.fetch_add(1, Relaxed);
            let _ = tokio::join!(c_write.shutdown(), s_write.shutdown());
        }
        End::Eof | End::Broken => {}
    }
    stats.open.fetch_sub(1, Relaxed);
}

/// One direction: reads chunks, decides, queues them to a writer that sends each at its time (so
/// latency delays bytes without slowing the reading).
async fn pump(
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    shared: &Shared,
    mut lane: Lane,
    up: bool,
) -> End {
    let stats = &shared.stats;
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(64);
    let read = async move {
        let mut faults = shared.fault.subscribe();
        loop {
            let mut chunk = vec![0; faults.borrow().read_size()];
            let n = match from.read(&mut chunk).await {
                Ok(0) => return End::Eof,
                Ok(n) => n,
                Err(_) => return End::Broken,
            };
            chunk.truncate(n);
            let mut held = false;
            let verdict = loop {
                let now = Instant::now();
                let at = now.duration_since(shared.epoch).as_nanos() as u64;
                let verdict = lane.chunk(&faults.borrow_and_update(), at, n);
                if verdict != Verdict::Hold {
                    break verdict;
                }
                if !held {
                    held = true;
                    stats.held_bytes.fetch_add(n as u64, Relaxed);
                }
                if faults.changed().await.is_err() {
                    return End::Broken;
                }
            };
            let (at, flip) = match verdict {
                Verdict::Forward { at, flip } => (at, flip),
                Verdict::Close => return End::Close,
                Verdict::Reset => return End::Reset,
                Verdict::Hold => unreachable!("held above"),
            };
            if let Some((i, mask)) = flip {
                chunk[i] ^= mask;
                stats.flipped_bytes.fetch_add(1, Relaxed);
            }
            let when = shared.epoch + Duration::from_nanos(at);
            if when > Instant::now() {
                stats.delayed_chunks.fetch_add(1, Relaxed);
            }
            if tx.send((when, chunk)).await.is_err() {
                return End::Broken;
            }
        }
    };
    let write = async {
        while let Some((when, chunk)) = rx.recv().await {
            tokio::time::sleep_until(when).await;
            if to.write_all(&chunk).await.is_err() {
                return End::Broken;
            }
            let counter = if up { &stats.bytes_up } else { &stats.bytes_down };
            counter.fetch_add(chunk.len() as u64, Relaxed);
        }
        // The reader ended and everything it queued went: pass the close on.
        let _ = to.shutdown().await;
        End::Eof
    };
    tokio::pin!(read, write);
    tokio::select! {
        // An Eof from the reader only closes the queue; the writer finishes the lane.
        e = &mut read => match e {
            End::Eof => write.await,
            other => other,
        },
        e = &mut write => e,
    }
}
