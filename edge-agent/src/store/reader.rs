//! A streaming reader of the log from any sequence number: what an uplink sends from. Blocking file I/O;
//! async callers run it on the blocking pool.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::sync::Arc;

use protocols::Sample;

use super::Shared;
use super::record::{self, Body, Decoded, Dictionary};

const CHUNK: usize = 1 << 20;

/// Consecutive samples of one segment, with the names and texts to turn them into points.
#[derive(Debug, Clone)]
pub struct Batch {
    pub first_seq: u64,
    pub samples: Vec<Sample>,
    pub dict: Arc<Dictionary>,
    pub texts: Arc<HashMap<u32, String>>,
}

impl Batch {
    /// The sequence number after the last sample: what to acknowledge once the batch is delivered.
    pub fn end_seq(&self) -> u64 {
        self.first_seq + self.samples.len() as u64
    }

    /// The batch's names and texts without its samples (shared, not copied).
    pub fn clone_empty(&self) -> Batch {
        Batch {
            first_seq: self.first_seq,
            samples: Vec::new(),
            dict: self.dict.clone(),
            texts: self.texts.clone(),
        }
    }
}

/// What the reader found it could not deliver, since it was created.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReaderLosses {
    /// Samples already dropped from the store (at `max_bytes`) before this reader got to them.
    pub dropped: u64,
    /// Corrupt records skipped.
    pub corrupt_records: u64,
    /// Samples known lost inside corrupt records.
    pub corrupt_samples: u64,
}

struct Open {
    first_seq: u64,
    file: File,
    /// Bytes read from the file so far.
    read: u64,
    buf: Vec<u8>,
    at: usize,
    dict: Arc<Dictionary>,
    texts: Arc<HashMap<u32, String>>,
}

pub struct LogReader {
    shared: Arc<Shared>,
    next_seq: u64,
    open: Option<Open>,
    /// Samples of a record not yet handed out.
    pending: Vec<Sample>,
    pending_seq: u64,
    pub losses: ReaderLosses,
}

impl LogReader {
    /// A reader whose first sample will be `from` (or the oldest kept, if that is gone).
    pub fn new(shared: Arc<Shared>, from: u64) -> Self {
        LogReader {
            shared,
            next_seq: from,
            open: None,
            pending: Vec::new(),
            pending_seq: 0,
            losses: ReaderLosses::default(),
        }
    }

    /// Sequence number of the next sample this reader will return.
    pub fn position(&self) -> u64 {
        self.next_seq
    }

    /// Up to `max` samples from one segment; `None` when the reader has caught up with the writer.
    pub fn read(&mut self, max: usize) -> io::Result<Option<Batch>> {
        let max = max.max(1);
        let mut out = Vec::new();
        loop {
            if self.open.is_none() && !self.open_next()? {
                return Ok(None);
            }
            if self.pending_seq > self.next_seq && !self.pending.is_empty() {
                // A corrupt record went before: a batch holds consecutive samples, so end it here.
                if !out.is_empty() {
                    return Ok(Some(self.batch(out)));
                }
                self.losses.corrupt_samples += self.pending_seq - self.next_seq;
                self.next_seq = self.pending_seq;
            }
            self.take_pending(&mut out, max);
            if out.len() == max {
                return Ok(Some(self.batch(out)));
            }
            match self.next_record()? {
                Step::Samples => continue,
                Step::End { finished } => {
                    if !out.is_empty() {
                        let b = self.batch(out);
                        if finished {
                            self.open = None;
                        }
                        return Ok(Some(b));
                    }
                    if !finished {
                        return Ok(None);
                    }
                    self.open = None;
                }
            }
        }
    }

    fn batch(&self, samples: Vec<Sample>) -> Batch {
        let open = self.open.as_ref().expect("a batch comes from an open segment");
        Batch {
            first_seq: self.next_seq - samples.len() as u64,
            samples,
            dict: open.dict.clone(),
            texts: open.texts.clone(),
        }
    }

    fn take_pending(&mut self, out: &mut Vec<Sample>, max: usize) {
        // Samples before the position were delivered already (a reader starting mid-record).
        let skip = (self.next_seq.saturating_sub(self.pending_seq) as usize).min(self.pending.len());
        if skip > 0 {
            self.pending.drain(..skip);
            self.pending_seq += skip as u64;
        }
        let n = (max - out.len()).min(self.pending.len());
        out.extend(self.pending.drain(..n));
        self.pending_seq += n as u64;
        self.next_seq = self.next_seq.max(self.pending_seq);
    }

    /// Opens the segment holding `next_seq`; false if the reader is at the head.
    fn open_next(&mut self) -> io::Result<bool> {
        let (first, head) = {
            let state = self.shared.state();
            if self.next_seq >= state.head {
                return Ok(false);
            }
            let Some(&oldest) = state.segments.front() else { return Ok(false) };
            if self.next_seq < oldest {
                self.losses.dropped += oldest - self.next_seq;
                self.next_seq = oldest;
            }
            let first = state.segments.iter().rev().find(|&&f| f <= self.next_seq).copied();
            (first, state.head)
        };
        let Some(first) = first else { return Ok(false) };
        let path = self.shared.segment_path(first);
        let file = match File::open(&path) {
            Ok(f) => f,
            // Deleted at the cap between the look and the open: look again.
            Err(e) if e.kind() == io::ErrorKind::NotFound && self.next_seq < head => {
                let oldest = self.shared.oldest();
                if oldest > self.next_seq {
                    self.losses.dropped += oldest - self.next_seq;
                    self.next_seq = oldest;
                }
                return self.open_next();
            }
            Err(e) => return Err(e),
        };
        self.open = Some(Open {
            first_seq: first,
            file,
            read: 0,
            buf: Vec::new(),
            at: 0,
            dict: Arc::default(),
            texts: Arc::default(),
        });
        self.pending.clear();
        Ok(true)
    }

    /// Decodes the next record of the open segment into `pending`.
    fn next_record(&mut self) -> io::Result<Step> {
        loop {
            let (limit, is_active) = self.limit();
            let open = self.open.as_mut().expect("open");
            match record::decode(&open.buf[open.at..]) {
                Decoded::Record { body, len } => {
                    open.at += len;
                    match body {
                        Body::Dictionary(d) => open.dict = Arc::new(d),
                        Body::Text { id, text } => {
                            Arc::make_mut(&mut open.texts).insert(id, text.to_owned());
                        }
                        Body::Samples { first_seq, count, packed } => {
                            let end = first_seq + count as u64;
                            if end <= self.next_seq {
                                continue;
                            }
                            self.pending.clear();
                            if let Err(i) = record::unpack(packed, &mut self.pending) {
                                // A CRC-valid record whose words no sample packs to: written by a newer
                                // agent, or a bug; deliver what precedes it.
                                self.losses.corrupt_records += 1;
                                self.losses.corrupt_samples += count as u64 - i as u64;
                                tracing::error!(
                                    "store: segment {:016x}: record at seq {first_seq} holds an unknown sample \
                                     layout; {} samples skipped",
                                    open.first_seq,
                                    count as u64 - i as u64
                                );
                            }
                            self.pending_seq = first_seq;
                            return Ok(Step::Samples);
                        }
                    }
                }
                Decoded::Corrupt { skip, why } => {
                    let offset = open.read - (open.buf.len() - open.at) as u64;
                    open.at += skip;
                    self.losses.corrupt_records += 1;
                    tracing::error!(
                        "store: segment {:016x}: {why} at byte {offset}; skipped to the next record \
                         (disk or file damage; the samples in it are lost)",
                        open.first_seq,
                    );
                }
                Decoded::Incomplete => {
                    let want = limit.map_or(CHUNK as u64, |l| l.saturating_sub(open.read).min(CHUNK as u64));
                    let got = if want == 0 { 0 } else { fill(open, want as usize)? };
                    if got == 0 {
                        if is_active {
                            return Ok(Step::End { finished: false });
                        }
                        if open.at < open.buf.len() {
                            self.losses.corrupt_records += 1;
                            tracing::error!(
                                "store: segment {:016x} ends inside a record; its last {} bytes are skipped",
                                open.first_seq,
                                open.buf.len() - open.at
                            );
                        }
                        return Ok(Step::End { finished: true });
                    }
                }
            }
        }
    }

    /// How far the open segment may be read: the writer's published length while it is active.
    fn limit(&self) -> (Option<u64>, bool) {
        let open = self.open.as_ref().expect("open");
        let state = self.shared.state();
        match (state.segments.back(), state.active_len) {
            (Some(&last), Some(len)) if last == open.first_seq => (Some(len), true),
            _ => (None, false),
        }
    }
}

enum Step {
    Samples,
    /// No more whole records for now; `finished` if the segment will never grow again.
    End {
        finished: bool,
    },
}

fn fill(open: &mut Open, want: usize) -> io::Result<usize> {
    if open.at > 0 {
        open.buf.drain(..open.at);
        open.at = 0;
    }
    let start = open.buf.len();
    open.buf.resize(start + want, 0);
    let mut got = 0;
    while got < want {
        match open.file.read(&mut open.buf[start + got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                open.buf.truncate(start + got);
                return Err(e);
            }
        }
    }
    open.buf.truncate(start + got);
    open.read += got as u64;
    Ok(got)
}
