//! What the proxy does to traffic. A [`Fault`] is the current plan; a [`Lane`] (one direction of one
//! connection) turns it into a [`Verdict`] per chunk, as a pure function of the fault, a seeded generator,
//! the chunk's length and the time, so every decision is tested exactly without a socket or a clock.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use drivers::units::Span;

/// One fault, applied to both directions of every connection through the proxy. Chances are per chunk
/// (one read from a socket, at most [`MAX_CHUNK`] bytes).
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Bytes go through untouched.
    Pass,
    /// Each chunk is held `delay` plus up to `jitter` more, never overtaking the one before (TCP keeps
    /// order).
    Latency { delay: Duration, jitter: Duration },
    /// Each direction of each connection carries at most this many bytes per second; a chunk is sent
    /// once all of it would have crossed such a line.
    Bandwidth { bytes_per_sec: u64 },
    /// With this chance a chunk is not forwarded and the connection is closed (FIN) both ways.
    Drop { chance: f64 },
    /// With this chance a chunk is not forwarded and the connection is reset (RST) both ways.
    Reset { chance: f64 },
    /// New connections are reset as they arrive (the peer is down); open ones are left alone.
    Refuse,
    /// Nothing moves: open connections stall, new ones are accepted and wait. Lifted, everything held
    /// goes on in order, as TCP's retransmissions would deliver it.
    Blackhole,
    /// With this chance one byte of a chunk is XORed with a random non-zero mask.
    Flip { chance: f64 },
}

/// The most a lane reads at once.
pub const MAX_CHUNK: usize = 16 * 1024;

impl Fault {
    /// The fault's kind, as its spec starts and as reports name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Pass => "pass",
            Fault::Latency { .. } => "latency",
            Fault::Bandwidth { .. } => "bandwidth",
            Fault::Drop { .. } => "drop",
            Fault::Reset { .. } => "reset",
            Fault::Refuse => "refuse",
            Fault::Blackhole => "blackhole",
            Fault::Flip { .. } => "flip",
        }
    }

    /// How much a lane reads at once: under a bandwidth cap, a twentieth of a second's worth, so bytes
    /// trickle instead of leaving in bursts.
    pub fn read_size(&self) -> usize {
        match self {
            Fault::Bandwidth { bytes_per_sec } => (*bytes_per_sec as usize / 20).clamp(1, MAX_CHUNK),
            _ => MAX_CHUNK,
        }
    }
}

const SPEC_HINT: &str = "write pass, latency=200ms or latency=200ms/50ms (jitter), bandwidth=8000 (bytes/s), \
drop=0.01, reset=0.01, refuse, blackhole or flip=0.001 (chances per chunk, 0 to 1)";

impl FromStr for Fault {
    type Err = String;

    fn from_str(spec: &str) -> Result<Fault, String> {
        let spec = spec.trim();
        let (kind, arg) = spec.split_once('=').map_or((spec, None), |(k, a)| (k, Some(a.trim())));
        let bad = |why: &str| format!("fault \"{spec}\": {why}; {SPEC_HINT}");
        let need = || arg.ok_or_else(|| bad("needs a value after ="));
        let chance = || -> Result<f64, String> {
            let p: f64 = need()?.parse().map_err(|_| bad("the chance is not a number"))?;
            (0.0..=1.0).contains(&p).then_some(p).ok_or_else(|| bad("the chance is not between 0 and 1"))
        };
        let span = |s: &str| s.parse::<Span>().map(Span::get).map_err(|e| bad(&e));
        let fault = match kind.trim() {
            "pass" => Fault::Pass,
            "refuse" => Fault::Refuse,
            "blackhole" => Fault::Blackhole,
            "drop" => Fault::Drop { chance: chance()? },
            "reset" => Fault::Reset { chance: chance()? },
            "flip" => Fault::Flip { chance: chance()? },
            "latency" => {
                let (delay, jitter) = need()?.split_once('/').unwrap_or((need()?, "0s"));
                Fault::Latency { delay: span(delay)?, jitter: span(jitter)? }
            }
            "bandwidth" => match need()?.parse() {
                Ok(n) if n > 0 => Fault::Bandwidth { bytes_per_sec: n },
                _ => return Err(bad("bytes per second must be a whole number above 0")),
            },
            _ => return Err(bad("unknown kind")),
        };
        match (&fault, arg) {
            (Fault::Pass | Fault::Refuse | Fault::Blackhole, Some(_)) => Err(bad("takes no value")),
            _ => Ok(fault),
        }
    }
}

/// The spec the fault parses from.
impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.kind();
        match self {
            Fault::Pass | Fault::Refuse | Fault::Blackhole => write!(f, "{kind}"),
            Fault::Latency { delay, jitter } => write!(f, "{kind}={}/{}", Span(*delay), Span(*jitter)),
            Fault::Bandwidth { bytes_per_sec } => write!(f, "{kind}={bytes_per_sec}"),
            Fault::Drop { chance } | Fault::Reset { chance } | Fault::Flip { chance } => {
                write!(f, "{kind}={chance}")
            }
        }
    }
}

/// A seeded generator (xorshift64 after a splitmix64 of the seed, which keeps it away from zero).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        crate::agent::next_random(&mut self.0)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    /// Uniform in `lo..=hi`.
    pub fn span(&mut self, lo: Duration, hi: Duration) -> Duration {
        let width = hi.saturating_sub(lo).as_nanos() as u64;
        lo + Duration::from_nanos(self.below(width.saturating_add(1)))
    }
}

/// What to do with one chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Send it at `at` (nanoseconds on the proxy's clock), with byte `flip.0` XORed by `flip.1`.
    Forward { at: u64, flip: Option<(usize, u8)> },
    /// Keep it until the fault changes, then ask again.
    Hold,
    /// Close the connection both ways; the chunk is not sent.
    Close,
    /// Reset the connection both ways; the chunk is not sent.
    Reset,
}

/// What to do with a connection that just arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Connect,
    Reset,
    /// Keep it waiting until the fault changes, then ask again.
    Wait,
}

pub fn admit(fault: &Fault) -> Admit {
    match fault {
        Fault::Refuse => Admit::Reset,
        Fault::Blackhole => Admit::Wait,
        _ => Admit::Connect,
    }
}

/// One direction of one connection: its generator, and the earliest time its next chunk may go.
#[derive(Debug, Clone)]
pub struct Lane {
    rng: Rng,
    free_at: u64,
}

impl Lane {
    pub fn new(seed: u64) -> Lane {
        Lane { rng: Rng::new(seed), free_at: 0 }
    }

    /// The verdict on a chunk of `len` bytes read at `now` (ns) under `fault`.
    pub fn chunk(&mut self, fault: &Fault, now: u64, len: usize) -> Verdict {
        let mut delay = 0;
        let mut flip = None;
        let mut busy = 0;
        match *fault {
            Fault::Pass | Fault::Refuse => {}
            Fault::Blackhole => return Verdict::Hold,
            Fault::Drop { chance } if self.rng.chance(chance) => return Verdict::Close,
            Fault::Reset { chance } if self.rng.chance(chance) => return Verdict::Reset,
            Fault::Drop { .. } | Fault::Reset { .. } => {}
            Fault::Latency { delay: d, jitter } => {
                delay = self.rng.span(d, d + jitter).as_nanos() as u64;
            }
            Fault::Bandwidth { bytes_per_sec } => {
                busy = (len as u128 * 1_000_000_000 / bytes_per_sec.max(1) as u128) as u64;
            }
            Fault::Flip { chance } => {
                if len > 0 && self.rng.chance(chance) {
                    let at = self.rng.below(len as u64) as usize;
                    flip = Some((at, 1 + self.rng.below(255) as u8));
                }
            }
        }
        // Store and forward: a chunk is there once its last byte is, `busy` after the lane is free.
        let at = (now + delay).max(self.free_at) + busy;
        self.free_at = at;
        Verdict::Forward { at, flip }
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
