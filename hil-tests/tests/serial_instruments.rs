//! The serial ASCII instrument driver on socat pty pairs against scripted instruments: two polled
//! instruments sharing a port, answers in pieces and after noise, timeouts and recovery, a streamed
//! NMEA-style sentence with checksums, and config mistakes reported at their place.

use std::time::Duration;

use drivers::ErrorKind;
use hil_tests::harness::Harness;
use hil_tests::instrument::{Chunk, ScriptedInstrument, pause, text};
use hil_tests::pymodbus::PtyPair;
use protocols::{Quality, Reason, Value};

fn value(h: &Harness, tag: &str) -> Option<f64> {
    h.latest(tag).filter(|s| s.quality == Quality::Good).and_then(|s| match s.value {
        Value::Float(v) => Some(v),
        _ => None,
    })
}

fn quality(h: &Harness, tag: &str) -> Option<Quality> {
    h.latest(tag).map(|s| s.quality)
}

fn nmea(body: &str) -> String {
    let sum = body.bytes().fold(0u8, |a, b| a ^ b);
    format!("${body}*{sum:02X}\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instruments_on_one_port_are_polled_in_turn_through_partial_lines_and_noise() {
    let pty = PtyPair::new();
    let instrument = ScriptedInstrument::polled(&pty.b, b'\r', |req, n| match req {
        // The analyser answers in three pieces, every third time after a line of noise.
        "#01\r" => {
            let mut out = Vec::new();
            if n % 3 == 0 {
                out.push(Chunk::Bytes(vec![0x00, 0xFF, b'#', b'#', b'\r', b'\n']));
            }
            out.extend([text("O2=20."), pause(15), text("9% CO="), pause(15), text("12\r\n")]);
            out
        }
        "#02\r" => vec![text("ST,GS,+  12.345kg\r\n")],
        _ => vec![text("?\r\n")],
    });
    let config = format!(
        r##"
[[serial.port]]
name = "分析仪总线"
port = "{port}"
baud = 9600
[[serial.port.instrument]]
name = "烟气分析仪"
request = "#01\r"
scan = "200ms"
timeout = "400ms"
regex = 'O2=(?P<o2>[-0-9.]+)%\s*CO=([0-9.]+)'
tags = [
  {{ name = "烟气分析仪.氧含量", capture = "o2" }},
  {{ name = "烟气分析仪.一氧化碳", capture = "2", scale = 1.25 }},
]
[[serial.port.instrument]]
name = "料仓秤"
request = "#02\r"
scan = "200ms"
timeout = "400ms"
tags = [{{ name = "料仓秤.重量", columns = "7-15" }}]
"##,
        port = pty.a.display()
    );
    let h = Harness::start(&config);
    h.until(Duration::from_secs(10), "both instruments read", |h| {
        value(h, "烟气分析仪.氧含量") == Some(20.9)
            && value(h, "烟气分析仪.一氧化碳") == Some(15.0)
            && value(h, "料仓秤.重量") == Some(12.345)
    })
    .await;
    h.until(Duration::from_secs(10), "a dozen requests", |_| instrument.requests.lock().unwrap().len() >= 12)
        .await;
    let requests = instrument.requests.lock().unwrap().clone();
    let analyser = requests.iter().filter(|r| *r == "#01\r").count();
    let scale = requests.iter().filter(|r| *r == "#02\r").count();
    assert!(analyser.abs_diff(scale) <= 1, "the port is shared in turn: {requests:?}");
    // The noise lines were counted, and never turned a tag Bad: the answer after them was taken.
    assert!(
        h.device("烟气分析仪").errors(ErrorKind::Decode) == 0,
        "noise before an answer is skipped, not an error"
    );
    assert!(h.samples("烟气分析仪.氧含量").iter().all(|s| s.quality == Quality::Good));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instrument_that_stops_answering_times_out_and_comes_back() {
    let pty = PtyPair::new();
    let instrument = ScriptedInstrument::polled(&pty.b, b'\n', |_, n| vec![text(&format!("{}\n", 100 + n))]);
    let config = format!(
        r##"
[[serial.port]]
name = "秤"
port = "{port}"
[[serial.port.instrument]]
name = "地磅"
request = "W\n"
terminator = "\n"
scan = "100ms"
timeout = "200ms"
delimiter = ","
tags = [{{ name = "地磅.毛重", field = 0 }}]
"##,
        port = pty.a.display()
    );
    let h = Harness::start(&config);
    h.until(Duration::from_secs(10), "a weight", |h| value(h, "地磅.毛重").is_some()).await;
    instrument.go_silent();
    h.until(Duration::from_secs(5), "Bad(timeout), device down", |h| {
        quality(h, "地磅.毛重") == Some(Quality::Bad(Reason::Timeout)) && !h.device("地磅").is_up()
    })
    .await;
    assert!(h.device("地磅").last_error().is_some_and(|e| e.contains("no answer within 200ms")));
    instrument.speak();
    h.until(Duration::from_secs(5), "good again", |h| {
        value(h, "地磅.毛重").is_some() && h.device("地磅").is_up()
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_sentences_are_checked_and_routed_and_silence_turns_them_bad() {
    let pty = PtyPair::new();
    let instrument = ScriptedInstrument::streaming(&pty.b, Duration::from_millis(50), |n| {
        let good = nmea(&format!("FLOW,{}.5,锅炉一号", 40 + n % 3));
        match n % 4 {
            // A corrupted sentence: one digit changed after the checksum was computed.
            1 => vec![text(&good.replacen(".5", ".6", 1))],
            // Another talker's sentence, for nobody here.
            2 => vec![text(&nmea("GPZDA,120000.00,02,12,2026")), text(&good)],
            // Half a sentence, a pause, the rest.
            3 => {
                let (a, b) = good.split_at(6);
                vec![text(a), pause(20), text(b)]
            }
            _ => vec![text(&good)],
        }
    });
    let config = format!(
        r##"
[[serial.port]]
name = "流量计"
port = "{port}"
[[serial.port.instrument]]
name = "给水流量计"
starts_with = "$FLOW"
checksum = "nmea"
delimiter = ","
timeout = "500ms"
tags = [{{ name = "给水流量计.流量", field = 1 }}]
"##,
        port = pty.a.display()
    );
    let h = Harness::start(&config);
    h.until(Duration::from_secs(10), "a dozen flows", |h| h.samples("给水流量计.流量").len() >= 12).await;
    let flows: Vec<f64> = h.samples("给水流量计.流量").iter().filter_map(|s| s.value.as_f64()).collect();
    assert!(
        flows.iter().all(|v| [40.5, 41.5, 42.5].contains(v)),
        "no corrupted value got through: {flows:?}"
    );
    assert!(h.device("给水流量计").errors(ErrorKind::Decode) >= 2, "corrupted sentences are counted");
    instrument.go_silent();
    h.until(Duration::from_secs(5), "Bad(timeout) after silence", |h| {
        quality(h, "给水流量计.流量") == Some(Quality::Bad(Reason::Timeout))
            && !h.device("给水流量计").is_up()
    })
    .await;
    h.stop().await;
}

fn errors_of(text: &str) -> Vec<String> {
    match edge_agent::config::parse(text, "agent.toml", &|_| None) {
        Ok(_) => Vec::new(),
        Err(e) => e.lines(),
    }
}

#[test]
fn config_mistakes_are_reported_at_their_place() {
    let text = r##"
[[serial.port]]
name = "总线"
port = "/dev/ttyUSB0"
stop_bits = 3
[[serial.port.instrument]]
name = "分析仪"
request = "M\r"
regex = 'O2=(?P<o2>[0-9.]+'
tags = [{ name = "分析仪.氧", capture = "o2" }]
[[serial.port.instrument]]
name = "秤"
request = "W\r"
delimiter = ","
tags = [
  { name = "秤.重", columns = "9-3" },
  { name = "秤.皮", field = 1, columns = "1-2" },
  { name = "秤.净", capture = "x" },
  { name = "秤.好", field = 2 },
]
"##;
    let errors = errors_of(text);
    let want = [
        "agent.toml:5:13: serial port 总线: stop_bits is 1 or 2",
        "agent.toml:9:9: instrument 分析仪: regex does not compile: unclosed group",
        "agent.toml:10:18: tag 分析仪.氧: `capture` names a group of the instrument's `regex`",
        "agent.toml:16:12: tag 秤.重: columns \"9-3\": write \"first-last\" counted from 1",
        "agent.toml:17:12: tag 秤.皮: give exactly one of `field`, `columns` or `capture`",
        "agent.toml:18:12: tag 秤.净: `capture` names a group",
    ];
    for w in want {
        assert!(
            errors.iter().any(|e| e.starts_with(w)),
            "no error starting {w:?} in:\n{}",
            errors.join("\n")
        );
    }
    assert_eq!(errors.len(), want.len(), "{errors:#?}");

    let mixed = r##"
[[serial.port]]
name = "混合"
port = "/dev/ttyS1"
[[serial.port.instrument]]
name = "甲"
request = "A\r"
delimiter = ","
tags = [{ name = "甲.x", field = 0 }]
[[serial.port.instrument]]
name = "乙"
delimiter = ","
tags = [{ name = "乙.x", field = 0 }, { name = "乙.y", feild = 1 }]
"##;
    let errors = errors_of(mixed);
    assert!(
        errors.iter().any(|e| e.contains("polled and streaming instruments cannot share a port")),
        "{errors:#?}"
    );
    assert!(errors.iter().any(|e| e.starts_with("agent.toml:13:54: unknown field `feild`")), "{errors:#?}");
}
