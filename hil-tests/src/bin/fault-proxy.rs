//! The fault proxy by hand, between a real agent and a real peer:
//!
//!     fault-proxy LISTEN UPSTREAM [FAULT] [--seed N] [--random]
//!
//! e.g. `fault-proxy 127.0.0.1:1502 10.0.0.5:502 latency=300ms/100ms`. Each line typed on stdin is a new
//! fault (`blackhole`, `pass`, `flip=0.01`, ...), `reset-all` resets every open connection, `counts` prints
//! what the proxy did. `--random` runs a seeded schedule of every fault but flips instead, printing each
//! step (`--random --flips` includes flips, for links with a CRC).

use std::io::BufRead;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use hil_tests::faults::{Fault, FaultProxy, Menu, Schedule};

const USAGE: &str = "usage: fault-proxy LISTEN UPSTREAM [FAULT] [--seed N] [--random [--flips]]\n\
  e.g. fault-proxy 127.0.0.1:1502 10.0.0.5:502 latency=300ms/100ms\n\
  then type a fault per line on stdin (pass, blackhole, reset=0.1, ...), `reset-all` or `counts`";

fn main() {
    if let Err(why) = run() {
        eprintln!("fault-proxy: {why}\n{USAGE}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut plain = Vec::new();
    let (mut seed, mut random, mut flips) = (None, false, false);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seed" => {
                let n = args.next().ok_or("--seed needs a number")?;
                seed = Some(n.parse::<u64>().map_err(|_| format!("--seed {n}: not a whole number"))?);
            }
            "--random" => random = true,
            "--flips" => flips = true,
            "-h" | "--help" => return Err("help".into()),
            _ => plain.push(a),
        }
    }
    let [listen, upstream, rest @ ..] = plain.as_slice() else {
        return Err("LISTEN and UPSTREAM are needed".into());
    };
    let listen: SocketAddr =
        listen.parse().map_err(|_| format!("LISTEN {listen}: write it as 127.0.0.1:1502"))?;
    let fault = match rest {
        [] => Fault::Pass,
        [spec] => spec.parse()?,
        _ => return Err(format!("one FAULT at a time, not {rest:?}")),
    };
    let seed = seed
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64));
    let proxy =
        FaultProxy::bind(listen, upstream, seed).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    proxy.set(fault.clone());
    eprintln!("fault-proxy: {} -> {upstream}, seed {seed}, {fault}", proxy.addr);
    if random {
        let menu = if flips { Menu::checked_link() } else { Menu::any_link() };
        for step in Schedule::new(seed, menu) {
            eprintln!("fault-proxy: {} for {:?}; so far {:?}", step.fault, step.hold, proxy.counts());
            proxy.set(step.fault);
            std::thread::sleep(step.hold);
        }
    }
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("stdin: {e}"))?;
        match line.trim() {
            "" => {}
            "counts" => eprintln!("fault-proxy: {:?}", proxy.counts()),
            "reset-all" => {
                proxy.reset_all();
                eprintln!("fault-proxy: every open connection reset");
            }
            spec => match spec.parse::<Fault>() {
                Ok(f) => {
                    eprintln!("fault-proxy: now {f}");
                    proxy.set(f);
                }
                Err(why) => eprintln!("fault-proxy: {why}"),
            },
        }
    }
    // stdin closed (e.g. run in the background with </dev/null): keep the last fault until killed.
    loop {
        std::thread::park();
    }
}
