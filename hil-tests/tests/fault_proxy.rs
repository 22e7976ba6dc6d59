//! The fault proxy between a client and a real TCP echo server: each fault does what it says to the
//! bytes and the connections, counts it, and lifting it lets traffic flow again.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use hil_tests::faults::{Fault, FaultProxy};

/// An echo server on a free port: every connection gets its bytes back.
fn echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in listener.incoming().map_while(Result::ok) {
            std::thread::spawn(move || {
                let mut out = s.try_clone().unwrap();
                let _ = std::io::copy(&mut s, &mut out);
            });
        }
    });
    addr
}

fn client(proxy: &FaultProxy) -> TcpStream {
    let s = TcpStream::connect(proxy.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Sends `text` and reads as many bytes back.
fn round_trip(s: &mut TcpStream, text: &[u8]) -> std::io::Result<Vec<u8>> {
    s.write_all(text)?;
    let mut back = vec![0; text.len()];
    s.read_exact(&mut back)?;
    Ok(back)
}

const 报文: &[u8] = "锅炉一号.温度=81.5".as_bytes();

#[test]
fn pass_latency_and_bandwidth_deliver_every_byte_in_order_later() {
    let proxy = FaultProxy::start(echo(), 1);
    let mut s = client(&proxy);
    assert_eq!(round_trip(&mut s, 报文).unwrap(), 报文);
    let counts = proxy.counts();
    assert_eq!((counts.accepted, counts.open, counts.bytes_up, counts.bytes_down), (1, 1, 24, 24));

    proxy.set(Fault::Latency { delay: Duration::from_millis(200), jitter: Duration::from_millis(100) });
    let t = Instant::now();
    assert_eq!(round_trip(&mut s, 报文).unwrap(), 报文);
    // Both ways delayed: at least 2 × 200 ms.
    assert!(t.elapsed() >= Duration::from_millis(400), "{:?}", t.elapsed());
    assert_eq!(proxy.counts().delayed_chunks, 2);

    proxy.set(Fault::Bandwidth { bytes_per_sec: 20_000 });
    let block: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let t = Instant::now();
    assert_eq!(round_trip(&mut s, &block).unwrap(), block, "every byte, in order");
    // 10 kB each way at 20 kB/s: half a second each way.
    assert!(t.elapsed() >= Duration::from_millis(900), "{:?}", t.elapsed());
    // At least one chunk each way held back; how many depends on how the reads split the 10 kB, which a busy
    // machine changes.
    assert!(proxy.counts().delayed_chunks >= 4, "{:?}", proxy.counts());
}

#[test]
fn flips_change_one_byte_per_chunk_and_are_counted() {
    let proxy = FaultProxy::start(echo(), 2);
    proxy.set(Fault::Flip { chance: 1.0 });
    let mut s = client(&proxy);
    let back = round_trip(&mut s, 报文).unwrap();
    let changed = back.iter().zip(报文).filter(|(a, b)| a != b).count();
    // One flip on the way up and one on the way back: one or two bytes differ (two flips can cancel
    // or land on the same byte).
    assert!(changed <= 2 && proxy.counts().flipped_bytes == 2, "{changed} changed, {:?}", proxy.counts());
    proxy.set(Fault::Pass);
    assert_eq!(round_trip(&mut s, 报文).unwrap(), 报文);
}

#[test]
fn reset_drop_and_refuse_end_connections_the_way_they_say() {
    let proxy = FaultProxy::start(echo(), 3);
    let mut open = client(&proxy);
    assert!(round_trip(&mut open, b"x").is_ok());
    proxy.reset_all();
    let err = round_trip(&mut open, b"y").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe), "{err}");

    proxy.set(Fault::Reset { chance: 1.0 });
    let mut s = client(&proxy);
    let err = round_trip(&mut s, b"z").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");

    proxy.set(Fault::Drop { chance: 1.0 });
    let mut s = client(&proxy);
    s.write_all(b"z").unwrap();
    let mut buf = [0; 1];
    assert_eq!(s.read(&mut buf).unwrap(), 0, "a dropped connection ends with a FIN");

    proxy.set(Fault::Refuse);
    let mut s = client(&proxy);
    let err = round_trip(&mut s, b"z").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe), "{err}");
    let c = proxy.counts();
    assert_eq!((c.resets, c.drops, c.refused), (2, 1, 1), "{c:?}");

    proxy.set(Fault::Pass);
    assert_eq!(round_trip(&mut client(&proxy), 报文).unwrap(), 报文);
}

#[test]
fn a_blackhole_stalls_open_and_new_connections_until_lifted_then_delivers_what_it_held() {
    let proxy = FaultProxy::start(echo(), 4);
    let mut open = client(&proxy);
    assert!(round_trip(&mut open, b"before").is_ok());
    proxy.set(Fault::Blackhole);
    open.write_all(报文).unwrap();
    let mut fresh = client(&proxy);
    fresh.write_all(b"new").unwrap();
    open.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let mut buf = [0; 64];
    let err = open.read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock, "nothing comes back through a blackhole");
    assert_eq!(proxy.counts().held_bytes, 24);

    proxy.set(Fault::Pass);
    open.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut back = vec![0; 报文.len()];
    open.read_exact(&mut back).unwrap();
    assert_eq!(back, 报文, "held bytes go on once lifted");
    let mut back = [0; 3];
    fresh.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"new", "a connection made in the blackhole reaches the upstream once lifted");
}

#[test]
fn an_upstream_that_is_down_resets_the_client_and_is_counted() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let proxy = FaultProxy::start(format!("127.0.0.1:{port}"), 5);
    let mut s = client(&proxy);
    let err = round_trip(&mut s, b"x").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe), "{err}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while proxy.counts().upstream_failed == 0 {
        assert!(Instant::now() < deadline, "{:?}", proxy.counts());
        std::thread::sleep(Duration::from_millis(10));
    }
}
