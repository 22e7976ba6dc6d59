//! One TCP session to a platform: send a record's frames, wait for its 9014, answer the platform's
//! commands that arrive meanwhile. One record at a time, as a data logger does.

use protocols::hj212::{Cp, DateTime, Field, Flag, FrameDecoder, MAX_SEGMENT, Segment, cn};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::config::Hj212Target;
use super::history::HistoryRequest;
use super::settings::{MIN_RANGE, RTD_RANGE, Settings};

pub struct Link {
    stream: TcpStream,
    decoder: FrameDecoder,
    /// Waits for a 9014 that ended without it, and sends of a record beyond its first, not yet counted.
    pub timeouts: u64,
    pub resends: u64,
    /// Re-send requests answered 9011 and not yet served.
    pub history: Vec<HistoryRequest>,
}

/// Why a record was not acknowledged.
#[derive(Debug)]
pub enum LinkError {
    Io(std::io::Error),
    NoReply,
}

impl Link {
    pub async fn connect(t: &Hj212Target) -> Result<Link, LinkError> {
        let stream = tokio::time::timeout(t.timeout, TcpStream::connect(&t.address))
            .await
            .map_err(|_| LinkError::NoReply)?
            .map_err(LinkError::Io)?;
        let _ = stream.set_nodelay(true);
        Ok(Link {
            stream,
            decoder: FrameDecoder::new(MAX_SEGMENT),
            timeouts: 0,
            resends: 0,
            history: Vec::new(),
        })
    }

    /// Sends `frames` (one record) and waits for the 9014 naming `qn`, sending again after each
    /// `timeout` up to `retries` more times. Returns how many times it sent.
    pub async fn send(
        &mut self,
        t: &Hj212Target,
        s: &mut Settings,
        qn: &str,
        frames: &[String],
        now_ms: impl Fn() -> i64,
    ) -> Result<u32, LinkError> {
        for attempt in 0..=t.retries {
            if attempt > 0 {
                self.resends += 1;
            }
            for f in frames {
                self.stream.write_all(f.as_bytes()).await.map_err(LinkError::Io)?;
            }
            let deadline = Instant::now() + t.timeout;
            if self.wait_reply(t, s, qn, deadline, &now_ms).await? {
                return Ok(attempt + 1);
            }
            self.timeouts += 1;
        }
        Err(LinkError::NoReply)
    }

    async fn wait_reply(
        &mut self,
        t: &Hj212Target,
        s: &mut Settings,
        qn: &str,
        deadline: Instant,
        now_ms: &impl Fn() -> i64,
    ) -> Result<bool, LinkError> {
        let mut buf = [0u8; 4096];
        loop {
            if self.commands(t, s, Some(qn), now_ms).await? {
                return Ok(true);
            }
            match timeout_at(deadline, self.stream.read(&mut buf)).await {
                Err(_) => return Ok(false),
                Ok(Ok(0)) => return Err(LinkError::Io(std::io::ErrorKind::UnexpectedEof.into())),
                Ok(Ok(n)) => self.decoder.push(&buf[..n]),
                Ok(Err(e)) => return Err(LinkError::Io(e)),
            }
        }
    }

    /// Answers the commands already received; true once the 9014 naming `qn` was among them.
    async fn commands(
        &mut self,
        t: &Hj212Target,
        s: &mut Settings,
        qn: Option<&str>,
        now_ms: &impl Fn() -> i64,
    ) -> Result<bool, LinkError> {
        while let Some(seg) = self.decoder.next_segment() {
            let Ok(seg) = seg.and_then(|s| Segment::decode(&s)) else {
                tracing::warn!(platform = %t.address, "hj212: a frame from the platform is malformed; ignored");
                continue;
            };
            if seg.cn == cn::DATA_REPLY {
                if qn.is_some() && seg.qn.as_deref() == qn {
                    return Ok(true);
                }
                continue;
            }
            self.command(t, s, &seg, now_ms()).await?;
        }
        Ok(false)
    }

    /// While no record is on its way: waits up to `until` for the platform's commands and answers
    /// them (a re-send request is queued in `history`). Reads only once the socket is readable, so a
    /// timeout never cuts a reply in half.
    pub async fn idle(
        &mut self,
        t: &Hj212Target,
        s: &mut Settings,
        until: Instant,
        now_ms: impl Fn() -> i64,
    ) -> Result<(), LinkError> {
        if timeout_at(until, self.stream.readable()).await.is_err() {
            return Ok(());
        }
        let mut buf = [0u8; 4096];
        match self.stream.try_read(&mut buf) {
            Ok(0) => return Err(LinkError::Io(std::io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => self.decoder.push(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(LinkError::Io(e)),
        }
        self.commands(t, s, None, &now_ms).await.map(|_| ())
    }

    /// The platform's commands (HJ 212-2017 §6.5 flows): 9011 that it will be done, the answer, 9012.
    /// A changed interval or password is saved before 9012 says it is done.
    async fn command(
        &mut self,
        t: &Hj212Target,
        s: &mut Settings,
        req: &Segment,
        now_ms: i64,
    ) -> Result<(), LinkError> {
        let qn = req.qn.clone().unwrap_or_default();
        let mut answer: Option<(u16, Vec<Field>)> = None;
        let mut ok = true;
        let mut changed = s.clone();
        match req.cn {
            cn::GET_TIME => {
                let now = DateTime::from_unix_millis(now_ms, t.utc_offset_secs);
                let text = now.map(|d| d.data_time().to_string()).unwrap_or_default();
                answer = Some((cn::GET_TIME, vec![Field::new("SystemTime", text)]));
            }
            // The agent keeps the host's clock (NTP); a platform's time is acknowledged, not applied.
            cn::SET_TIME => ok = req.cp.get("SystemTime").is_some_and(|s| DateTime::parse(s).is_ok()),
            cn::GET_RTD_INTERVAL => {
                answer =
                    Some((cn::GET_RTD_INTERVAL, vec![Field::new("RtdInterval", s.rtd_interval.to_string())]));
            }
            cn::SET_RTD_INTERVAL => match req.cp.get("RtdInterval").and_then(|v| v.parse().ok()) {
                Some(v) if RTD_RANGE.contains(&v) => changed.rtd_interval = v,
                _ => ok = false,
            },
            cn::GET_MIN_INTERVAL => {
                answer =
                    Some((cn::GET_MIN_INTERVAL, vec![Field::new("MinInterval", s.min_interval.to_string())]));
            }
            cn::SET_MIN_INTERVAL => match req.cp.get("MinInterval").and_then(|v| v.parse().ok()) {
                Some(v) if MIN_RANGE.contains(&v) => changed.min_interval = v,
                _ => ok = false,
            },
            cn::SET_PASSWORD => match req.cp.get("NewPW") {
                Some(pw) if !pw.is_empty() && !pw.contains([';', ',', '=', '&', '\n']) => {
                    changed.password = pw.to_owned();
                }
                _ => ok = false,
            },
            cn::MINUTE | cn::HOUR | cn::DAY => return self.history_request(t, s, req, &qn).await,
            _ => return Ok(()),
        }
        let mn = req.mn.clone();
        self.reply(t, s, &qn, &mn, cn::REQUEST_REPLY, vec![Field::new("QnRtn", "1")]).await?;
        if let Some((code, fields)) = answer {
            self.reply(t, s, &qn, &mn, code, fields).await?;
        }
        if ok && changed != *s {
            if let Err(e) = changed.save() {
                tracing::warn!(platform = %t.address,
                    "hj212: the platform's CN={} not saved to {} ({e}); applied until a restart; check the store's disk",
                    req.cn, changed.path().display());
            }
        }
        let rtn = if ok { "1" } else { "3" };
        // Replies to 1072 carry the old password, as the request did; the new one from the next frame.
        self.reply(t, s, &qn, &mn, cn::EXECUTE_REPLY, vec![Field::new("ExeRtn", rtn)]).await?;
        if ok {
            *s = changed;
        }
        Ok(())
    }

    /// A re-send request: 9011 now; the records and the 9012 once the sink has read them.
    async fn history_request(
        &mut self,
        t: &Hj212Target,
        s: &Settings,
        req: &Segment,
        qn: &str,
    ) -> Result<(), LinkError> {
        let time = |k: &str| {
            let d = DateTime::parse(req.cp.get(k)?).ok()?;
            Some(d.to_unix_millis(t.utc_offset_secs))
        };
        let (Some(begin_ms), Some(end_ms)) = (time("BeginTime"), time("EndTime")) else {
            // QnRtn 2: refused (no readable BeginTime/EndTime).
            return self.reply(t, s, qn, &req.mn, cn::REQUEST_REPLY, vec![Field::new("QnRtn", "2")]).await;
        };
        self.reply(t, s, qn, &req.mn, cn::REQUEST_REPLY, vec![Field::new("QnRtn", "1")]).await?;
        self.history.push(HistoryRequest {
            qn: qn.to_owned(),
            mn: req.mn.clone(),
            cn: req.cn,
            begin_ms,
            end_ms,
        });
        Ok(())
    }

    pub async fn reply(
        &mut self,
        t: &Hj212Target,
        s: &Settings,
        qn: &str,
        mn: &str,
        code: u16,
        fields: Vec<Field>,
    ) -> Result<(), LinkError> {
        let seg = Segment {
            qn: (!qn.is_empty()).then(|| qn.to_owned()),
            st: "91".into(),
            cn: code,
            pw: s.password.clone(),
            mn: mn.to_owned(),
            flag: Some(Flag::new(t.edition, false, false)),
            packet: None,
            cp: Cp { groups: vec![fields] },
        };
        let Ok(frames) = protocols::hj212::encode_frames(&seg, MAX_SEGMENT) else { return Ok(()) };
        for f in frames {
            self.stream.write_all(f.as_bytes()).await.map_err(LinkError::Io)?;
        }
        Ok(())
    }
}
