//! One connection to a Modbus TCP device or serial gateway: a request out, its answer back, with the
//! timeout. "The device refused" (an exception) is kept apart from "the link failed".

use std::time::Duration;

use protocols::modbus::pdu::{self, Exception, Request, Response};
use protocols::modbus::{rtu, tcp};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::config::{Parity, SerialSettings, Transport};

/// A TCP connection or a serial port.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A decoded answer, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Registers(Vec<u16>),
    Bits(Vec<bool>),
    Written,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LinkError {
    #[error("cannot connect to {addr}: {why}")]
    Connect { addr: String, why: String },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("connection lost: {0}")]
    Io(String),
    #[error("garbled answer: {0}")]
    Corrupt(String),
}

pub struct Connection {
    transport: Transport,
    addr: String,
    timeout: Duration,
    serial: SerialSettings,
    stream: Option<Box<dyn Stream>>,
    transaction: u16,
    rx: Vec<u8>,
    /// Units whose late answers (to requests that timed out) were dropped since the driver last asked.
    stale: Vec<u8>,
    /// When the line last carried a byte: RTU frames are told apart by silence (3.5 characters).
    last_traffic: Instant,
}

impl Connection {
    pub fn new(transport: Transport, addr: &str, timeout: Duration) -> Self {
        let serial = SerialSettings { baud: 19_200, parity: Parity::Even, stop_bits: 1 };
        Connection {
            transport,
            addr: addr.to_owned(),
            timeout,
            serial,
            stream: None,
            transaction: 0,
            rx: Vec::new(),
            stale: Vec::new(),
            last_traffic: Instant::now(),
        }
    }

    pub fn with_serial(mut self, serial: SerialSettings) -> Self {
        self.serial = serial;
        self
    }

    pub fn is_connected(&self) -> bool {
        self.stream.is_some()
    }

    /// The units of the late answers dropped since the last call, one entry per answer.
    pub fn take_stale(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.stale)
    }

    pub fn disconnect(&mut self) {
        self.stream = None;
        self.rx.clear();
    }

    pub async fn connect(&mut self) -> Result<(), LinkError> {
        let fail = |why: String| LinkError::Connect { addr: self.addr.clone(), why };
        if self.transport == Transport::Rtu {
            let s = self.serial;
            let parity = match s.parity {
                Parity::None => tokio_serial::Parity::None,
                Parity::Even => tokio_serial::Parity::Even,
                Parity::Odd => tokio_serial::Parity::Odd,
            };
            let stop =
                if s.stop_bits == 2 { tokio_serial::StopBits::Two } else { tokio_serial::StopBits::One };
            let port = tokio_serial::new(&self.addr, s.baud)
                .parity(parity)
                .stop_bits(stop)
                .data_bits(tokio_serial::DataBits::Eight);
            let stream = tokio_serial::SerialStream::open(&port).map_err(|e| fail(e.to_string()))?;
            self.stream = Some(Box::new(stream));
        } else {
            let stream = tokio::time::timeout(self.timeout, TcpStream::connect(&self.addr))
                .await
                .map_err(|_| fail(format!("no answer within {:?}", self.timeout)))?
                .map_err(|e| fail(e.to_string()))?;
            // Requests are small and each waits for its answer: send at once.
            let _ = stream.set_nodelay(true);
            self.stream = Some(Box::new(stream));
        }
        self.rx.clear();
        Ok(())
    }

    /// Sends `req` to `unit` and waits for its answer. A link error other than a timeout closes the
    /// connection; the caller reconnects.
    pub async fn request(
        &mut self,
        unit: u8,
        req: &Request<'_>,
    ) -> Result<Result<Answer, Exception>, LinkError> {
        if self.stream.is_none() {
            self.connect().await?;
        }
        let outcome = tokio::time::timeout(self.timeout, self.exchange(unit, req)).await;
        let outcome = match outcome {
            Ok(r) => r,
            Err(_) => Err(LinkError::Timeout(self.timeout)),
        };
        match &outcome {
            // A late answer may still come, maybe half of it is here: TCP keeps it, to drop it whole by
            // its transaction id (clearing half a frame would put the stream out of step). RTU frames have
            // no id, so whatever is buffered is thrown away before the next request.
            Err(LinkError::Timeout(_)) if self.transport == Transport::Tcp => {}
            Err(LinkError::Timeout(_)) => self.rx.clear(),
            Err(_) => self.disconnect(),
            Ok(_) => {}
        }
        outcome
    }

    async fn exchange(
        &mut self,
        unit: u8,
        req: &Request<'_>,
    ) -> Result<Result<Answer, Exception>, LinkError> {
        let mut frame = [0u8; tcp::MAX_ADU];
        let transaction = self.transaction;
        let len = match self.transport {
            Transport::Tcp => {
                self.transaction = self.transaction.wrapping_add(1);
                let mut pdu_buf = [0u8; pdu::MAX_PDU];
                let n = req.encode(&mut pdu_buf).map_err(|e| LinkError::Corrupt(format!("{e:?}")))?;
                tcp::encode_adu(transaction, unit, &pdu_buf[..n], &mut frame)
            }
            Transport::RtuOverTcp | Transport::Rtu => rtu::encode_request(unit, req, &mut frame),
        }
        .map_err(|e| LinkError::Corrupt(format!("cannot encode the request: {e:?}")))?;
        if self.transport != Transport::Tcp {
            self.drain_stale().await;
        }
        if self.transport == Transport::Rtu {
            // Modbus over Serial Line V1.02 §2.5.1.1: at least 3.5 characters of silence between frames.
            let quiet = rtu::silence(self.serial.baud, self.serial.bits_per_char());
            tokio::time::sleep_until(self.last_traffic + quiet).await;
        }
        let stream = self.stream.as_mut().expect("connected");
        stream.write_all(&frame[..len]).await.map_err(|e| LinkError::Io(e.to_string()))?;
        self.last_traffic = Instant::now();
        loop {
            if let Some(answer) = self.parse(unit, transaction, req)? {
                return Ok(answer);
            }
            let mut chunk = [0u8; 512];
            let stream = self.stream.as_mut().expect("connected");
            let n = stream.read(&mut chunk).await.map_err(|e| LinkError::Io(e.to_string()))?;
            if n == 0 {
                return Err(LinkError::Io("closed by the device".into()));
            }
            self.rx.extend_from_slice(&chunk[..n]);
            self.last_traffic = Instant::now();
        }
    }

    /// Takes one answer out of the receive buffer, if a whole one is there.
    fn parse(
        &mut self,
        unit: u8,
        transaction: u16,
        req: &Request<'_>,
    ) -> Result<Option<Result<Answer, Exception>>, LinkError> {
        loop {
            let (pdu_range, len) = match self.transport {
                Transport::Tcp => match tcp::decode_adu(&self.rx) {
                    tcp::TcpFrame::Partial { .. } => return Ok(None),
                    tcp::TcpFrame::Corrupt(e) => return Err(LinkError::Corrupt(format!("{e:?}"))),
                    tcp::TcpFrame::Complete { header, len, .. } => {
                        if header.transaction != transaction {
                            // The late answer to a request that timed out: skip it.
                            self.rx.drain(..len);
                            self.stale.push(header.unit);
                            continue;
                        }
                        if header.unit != unit {
                            return Err(LinkError::Corrupt(format!(
                                "answer from unit {} to a request for unit {unit}",
                                header.unit
                            )));
                        }
                        (tcp::MBAP_LEN..len, len)
                    }
                },
                Transport::RtuOverTcp | Transport::Rtu => match rtu::decode_response(unit, req, &self.rx) {
                    rtu::RtuFrame::Partial { .. } => return Ok(None),
                    rtu::RtuFrame::Corrupt(e) => {
                        self.rx.clear();
                        return Err(LinkError::Corrupt(e.to_string()));
                    }
                    rtu::RtuFrame::Complete { len, .. } => (1..len - 2, len),
                },
            };
            let answer = match pdu::decode_response(req, &self.rx[pdu_range]) {
                Ok(Ok(Response::Registers(r))) => Ok(Answer::Registers(r.iter().collect())),
                Ok(Ok(Response::Bits(b))) => Ok(Answer::Bits(b.iter().collect())),
                Ok(Ok(Response::Written)) => Ok(Answer::Written),
                Ok(Err(exception)) => Err(exception),
                Err(e) => {
                    self.rx.clear();
                    return Err(LinkError::Corrupt(format!("{e:?}")));
                }
            };
            self.rx.drain(..len);
            return Ok(Some(answer));
        }
    }

    /// Drops bytes a late RTU answer left behind, so they are not taken for the next answer.
    async fn drain_stale(&mut self) {
        self.rx.clear();
        if let Some(stream) = self.stream.as_mut() {
            let mut chunk = [0u8; 512];
            while let Ok(Ok(n)) = tokio::time::timeout(Duration::ZERO, stream.read(&mut chunk)).await {
                if n == 0 {
                    break;
                }
                self.last_traffic = Instant::now();
            }
        }
    }
}
