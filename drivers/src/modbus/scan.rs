//! One scan of one poll group: its planned reads in turn, retries for a unit that was answering, and a
//! merged read the device refuses split until every tag that can be read is (see [`super::holes`]).

use std::sync::atomic::Ordering;
use std::time::Duration;

use protocols::modbus::Base;
use protocols::modbus::pdu::{Exception, Request};
use protocols::modbus::plan::Block;
use protocols::{Sample, Timestamp};
use tokio::time::Instant;

use super::device::Failure;
use super::driver::ModbusDriver;
use super::holes::{HoleSearch, Lesson};
use super::transport::{Answer, LinkError};
use crate::context::DriverContext;
use crate::telemetry::ErrorKind;

type Outcome = Result<Result<Answer, Exception>, LinkError>;

/// What a scan found out about its device, taken in once the scan is over: planning again mid-scan would
/// move the reads it is still making.
#[derive(Default)]
struct Findings {
    /// Per split read: its tags (group indices, as the search numbered them), the lessons, the refusal.
    searches: Vec<(Vec<usize>, Vec<Lesson>, Exception)>,
    /// Tags refused alone before that were answered.
    answer_again: Vec<usize>,
}

/// The refusals a device gives a read over registers it does not map: 02 by the spec, 03 from some.
fn refuses_range(e: Exception) -> bool {
    matches!(e, Exception::IllegalDataAddress | Exception::IllegalDataValue)
}

fn failure_of(e: &LinkError) -> Failure {
    if matches!(e, LinkError::Timeout(_)) { Failure::Timeout } else { Failure::Link }
}

impl ModbusDriver {
    /// Reads every planned read of group `gi` of device `di`; returns its samples (Bad ones for what
    /// failed).
    pub(super) async fn scan(&mut self, di: usize, gi: usize, cx: &DriverContext) -> Vec<Sample> {
        let started = Instant::now();
        let ts = cx.clock.now();
        let mut out = Vec::new();
        if !self.connect().await {
            self.devices[di].groups[gi].fail_all(Failure::Link, ts, &mut out);
            return out;
        }
        let reads = self.devices[di].groups[gi].reads.clone();
        let mut found = Findings::default();
        let mut requests = 0u64;
        let mut answered = false;
        let mut timed_out = None;
        for (r, &block) in reads.iter().enumerate() {
            // A unit that was already failing gets no retries: it must not hold the link.
            let tries = if self.units[di].is_failing() || timed_out.is_some() { 1 } else { self.retries + 1 };
            let outcome = self.read(di, block, tries, &mut requests).await;
            let group = &self.devices[di].groups[gi];
            let ended = match outcome {
                Ok(Ok(answer)) => {
                    answered = true;
                    if group.decode(r, &answer, ts, &cx.texts, &mut out) > 0 {
                        let why = format!("read {block}: values that do not decode");
                        self.stats[di].request_failed(ErrorKind::Decode, &why);
                    }
                    if group.tags_of(r).any(|t| group.tags[t].refused) {
                        found.answer_again.extend(group.tags_of(r));
                    }
                    Ok(())
                }
                Ok(Err(e)) if refuses_range(e) && group.splittable(r) => {
                    answered = true;
                    self.stats[di]
                        .request_failed(ErrorKind::Exception, &format!("{block}: {e}; splitting the read"));
                    self.split(di, gi, r, e, ts, cx, &mut out, &mut requests, &mut found).await
                }
                Ok(Err(e)) => {
                    answered = true;
                    group.fail(r, Failure::Exception(e), ts, &mut out);
                    self.stats[di].request_failed(ErrorKind::Exception, &format!("{block}: {e}"));
                    Ok(())
                }
                Err(e) => {
                    group.fail(r, failure_of(&e), ts, &mut out);
                    Err(e)
                }
            };
            let Err(e) = ended else { continue };
            // A unit that did not answer this read will not answer the next; a broken link reads nothing.
            let group = &self.devices[di].groups[gi];
            for rest in r + 1..reads.len() {
                group.fail(rest, failure_of(&e), ts, &mut out);
            }
            if let LinkError::Timeout(t) = e {
                timed_out = Some(t);
                break;
            }
            let wait = self.link_failed();
            self.stats[di].scan_failed(ErrorKind::Link, &format!("{e}; reconnecting in {wait:?}"));
            self.take_in(di, gi, found);
            return out;
        }
        self.take_in(di, gi, found);
        let stats = &self.stats[di];
        stats.requests_per_scan.store(requests, Ordering::Relaxed);
        match (answered, timed_out) {
            (_, None) | (true, Some(_)) => {
                self.units[di].succeeded();
                stats.scan_ok(out.len(), started.elapsed());
            }
            (false, Some(t)) => {
                let wait = self.units[di].failed(Instant::now(), 0);
                let unit = self.devices[di].unit;
                let why = format!("unit {unit} did not answer within {t:?}; next try in {wait:?}");
                self.stats[di].scan_failed(ErrorKind::Timeout, &why);
            }
        }
        out
    }

    /// One read, tried up to `tries` times while it times out; counted on the device.
    async fn read(&mut self, di: usize, block: Block, tries: u32, requests: &mut u64) -> Outcome {
        let req = Request::Read { space: block.space, start: block.start, count: block.count };
        let unit = self.devices[di].unit;
        let mut outcome = Err(LinkError::Timeout(Duration::ZERO));
        for _ in 0..tries {
            let t = Instant::now();
            outcome = self.conn.request(unit, &req).await;
            self.count_stale();
            *requests += 1;
            self.stats[di].requests.fetch_add(1, Ordering::Relaxed);
            self.stats[di].request_latency.observe(t.elapsed());
            if !matches!(outcome, Err(LinkError::Timeout(_))) {
                break;
            }
        }
        outcome
    }

    /// Read `r` was refused with `refusal`: reads its tags in parts until each is read or refused alone,
    /// learns what the device refuses, and plans the device again. A timeout or a broken link on the way
    /// fails the tags not read yet and ends the search.
    #[allow(clippy::too_many_arguments)]
    async fn split(
        &mut self,
        di: usize,
        gi: usize,
        r: usize,
        refusal: Exception,
        ts: Timestamp,
        cx: &DriverContext,
        out: &mut Vec<Sample>,
        requests: &mut u64,
        found: &mut Findings,
    ) -> Result<(), LinkError> {
        let group = &self.devices[di].groups[gi];
        let tags = group.by_start(r);
        let blocks = tags.iter().map(|&t| group.tags[t].block).collect();
        let mut search = HoleSearch::new(blocks, self.devices[di].tag_blocks());
        let mut unread: Vec<bool> = vec![true; tags.len()];
        let mut ended = Ok(None);
        while let Some(probe) = search.next_probe() {
            let outcome = self.read(di, probe.block, 1, requests).await;
            let group = &self.devices[di].groups[gi];
            let serves = probe.serves.clone().unwrap_or_default();
            let refused = match outcome {
                Ok(Ok(answer)) => {
                    group.decode_tags(&tags[serves.clone()], probe.block.start, &answer, ts, &cx.texts, out);
                    unread[serves].iter_mut().for_each(|u| *u = false);
                    false
                }
                Ok(Err(e)) if refuses_range(e) => {
                    if serves.len() == 1 {
                        group.fail_tags(&tags[serves.clone()], Failure::Exception(e), ts, out);
                        unread[serves.start] = false;
                    }
                    self.stats[di].request_failed(ErrorKind::Exception, &format!("{}: {e}", probe.block));
                    true
                }
                Ok(Err(e)) => {
                    ended = Ok(Some(Failure::Exception(e)));
                    break;
                }
                Err(e) => {
                    ended = Err(e);
                    break;
                }
            };
            search.answer(refused);
        }
        let left: Vec<usize> = tags.iter().zip(&unread).filter(|(_, u)| **u).map(|(&t, _)| t).collect();
        let why = match &ended {
            Ok(Some(why)) => *why,
            Ok(None) => Failure::Exception(refusal),
            Err(e) => failure_of(e),
        };
        self.devices[di].groups[gi].fail_tags(&left, why, ts, out);
        found.searches.push((tags, search.lessons().to_vec(), refusal));
        ended.map(|_| ())
    }

    /// Takes in what the scan found out, now that its reads are done.
    fn take_in(&mut self, di: usize, gi: usize, found: Findings) {
        for (tags, lessons, refusal) in &found.searches {
            self.take_lessons(di, gi, tags, lessons, *refusal);
        }
        if !found.answer_again.is_empty() {
            let device = &mut self.devices[di];
            tracing::info!(device = %device.name, "tags refused before answer again; read with the others from now on");
            if let Err(e) = device.forgive(gi, &found.answer_again) {
                tracing::error!(device = %device.name, "cannot plan the tags that answer again: {e}");
            }
        }
    }

    /// Says once what the device refuses, with the config line that spares the search, and plans again.
    fn take_lessons(&mut self, di: usize, gi: usize, tags: &[usize], lessons: &[Lesson], refusal: Exception) {
        let device = &self.devices[di];
        let refused = format!("exception {}, {}", refusal.code(), refusal.name());
        let mut learnt = Vec::new();
        for lesson in lessons {
            match *lesson {
                Lesson::Forbid(range) if !device.forbidden.contains(&range) => learnt.push(range),
                Lesson::Cut(cut) if !device.cuts.contains(&cut) => self.stats[di].learned(&format!(
                    "device {} refuses to read across {cut} ({refused}): its register tables meet there; reads \
                     stay apart from now on (no config can say this, so it is found again after a restart)",
                    device.name
                )),
                Lesson::RefusedAlone(i) => {
                    let tag = &device.groups[gi].tags[tags[i]].name;
                    tracing::debug!(device = %device.name, tag = %tag, "refused alone ({refused}): read apart");
                }
                Lesson::Forbid(_) | Lesson::Cut(_) => {}
            }
        }
        let base = device.base;
        let mut line: Vec<String> = device.forbidden.iter().map(|f| config_range(*f, base)).collect();
        line.extend(learnt.iter().map(|f| config_range(*f, base)));
        let line = line.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>().join(", ");
        for range in &learnt {
            self.stats[di].learned(&format!(
                "device {} refuses any read over {} ({refused}); reads go around it from now on. To spare the \
                 search after a restart, set in its [[modbus.link.device]]: forbidden = [{line}]",
                device.name,
                config_range(*range, base)
            ));
        }
        if let Err(e) = self.devices[di].learn(gi, tags, lessons) {
            tracing::error!(device = %self.devices[di].name, "cannot plan around what the device refuses: {e}");
        }
    }
}

/// `range` as the config writes it, in the device's numbering: `"holding:100-120"`, both ends included.
fn config_range(range: Block, base: Base) -> String {
    let first = u32::from(range.start) + u32::from(base == Base::One);
    format!("{}:{}-{}", range.space, first, first + u32::from(range.count) - 1)
}

#[cfg(test)]
mod tests {
    use protocols::modbus::Space;

    use super::*;
    use crate::modbus::config::parse_range;

    #[test]
    fn suggested_forbidden_ranges_read_back_as_the_same_registers() {
        let table = [
            (Block::new(Space::HoldingRegister, 20, 6), Base::Zero, "holding:20-25"),
            (Block::new(Space::HoldingRegister, 20, 6), Base::One, "holding:21-26"),
            (Block::new(Space::InputRegister, 65535, 1), Base::One, "input:65536-65536"),
            (Block::new(Space::Coil, 0, 1), Base::Zero, "coil:0-0"),
        ];
        for (range, base, text) in table {
            assert_eq!(config_range(range, base), text);
            assert_eq!(parse_range(text, base), Some(range), "{text}");
        }
    }
}
