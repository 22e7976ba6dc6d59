//! A Modbus TCP device on 127.0.0.1 (tokio-modbus's server, an implementation independent of ours) with
//! knobs for the faults a plant has, and a harness that runs one link's driver against it.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drivers::modbus::ModbusLinkConfig;
use drivers::testing::TestSink;
use drivers::{DeviceStats, DriverContext, DriverError, Publisher};
use drivers::{Shutdown, SystemClock, WriteRequest};
use protocols::{Sample, TagRegistry, TextPool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_modbus::server::Service;
use tokio_modbus::server::{rtu_over_tcp, tcp};
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};

/// The registers of one unit. Unset addresses read 0.
#[derive(Default)]
pub struct Bank {
    pub holding: HashMap<u16, u16>,
    pub input: HashMap<u16, u16>,
    pub coils: HashMap<u16, bool>,
    pub discrete: HashMap<u16, bool>,
}

/// What the device does, changeable while the driver runs.
#[derive(Default)]
pub struct Plant {
    pub banks: Mutex<HashMap<u8, Bank>>,
    /// Requests received per unit.
    pub requests: Mutex<HashMap<u8, u64>>,
    /// Units that never answer (a unit id nobody has on a gateway's bus).
    pub silent: Mutex<HashSet<u8>>,
    /// How long every answer takes.
    pub delay: Mutex<Duration>,
    /// Holding register ranges (wire, inclusive) whose reads and writes are refused, as a device refuses
    /// registers it does not map: any read that covers one of them.
    pub refuse: Mutex<Vec<(u16, u16)>>,
    /// The exception they get; `None`: 02, illegal data address (some devices answer 03).
    pub refusal: Mutex<Option<ExceptionCode>>,
    /// Through a [`LossyNetwork`]: the next answer's MBAP header goes out at once, the rest this much
    /// later, as when the segment carrying it was lost and resent (one answer, then the knob clears).
    pub late_tail: Mutex<Option<Duration>>,
}

impl Plant {
    pub fn set_holding(&self, unit: u8, start: u16, regs: &[u16]) {
        let mut banks = self.banks.lock().unwrap();
        let bank = banks.entry(unit).or_default();
        for (i, &r) in regs.iter().enumerate() {
            bank.holding.insert(start + i as u16, r);
        }
    }

    pub fn requests_of(&self, unit: u8) -> u64 {
        self.requests.lock().unwrap().get(&unit).copied().unwrap_or(0)
    }

    fn answer(&self, unit: u8, req: Request<'_>) -> Result<Option<Response>, ExceptionCode> {
        *self.requests.lock().unwrap().entry(unit).or_default() += 1;
        if self.silent.lock().unwrap().contains(&unit) {
            return Ok(None);
        }
        let refused =
            |a: u16, n: u16| self.refuse.lock().unwrap().iter().any(|&(lo, hi)| a <= hi && lo < a + n);
        let mut banks = self.banks.lock().unwrap();
        let bank = banks.entry(unit).or_default();
        let regs = |map: &HashMap<u16, u16>, a: u16, n: u16| {
            (a..a + n).map(|i| map.get(&i).copied().unwrap_or(0)).collect()
        };
        let bits = |map: &HashMap<u16, bool>, a: u16, n: u16| {
            (a..a + n).map(|i| map.get(&i).copied().unwrap_or(false)).collect()
        };
        let refusal = self.refusal.lock().unwrap().unwrap_or(ExceptionCode::IllegalDataAddress);
        Ok(Some(match req {
            Request::ReadHoldingRegisters(a, n) if refused(a, n) => return Err(refusal),
            Request::WriteSingleRegister(a, _) if refused(a, 1) => {
                return Err(ExceptionCode::IllegalDataAddress);
            }
            Request::ReadHoldingRegisters(a, n) => Response::ReadHoldingRegisters(regs(&bank.holding, a, n)),
            Request::ReadInputRegisters(a, n) => Response::ReadInputRegisters(regs(&bank.input, a, n)),
            Request::ReadCoils(a, n) => Response::ReadCoils(bits(&bank.coils, a, n)),
            Request::ReadDiscreteInputs(a, n) => Response::ReadDiscreteInputs(bits(&bank.discrete, a, n)),
            Request::WriteSingleRegister(a, v) => {
                bank.holding.insert(a, v);
                Response::WriteSingleRegister(a, v)
            }
            Request::WriteMultipleRegisters(a, vs) => {
                for (i, v) in vs.iter().enumerate() {
                    bank.holding.insert(a + i as u16, *v);
                }
                Response::WriteMultipleRegisters(a, vs.len() as u16)
            }
            Request::WriteSingleCoil(a, on) => {
                bank.coils.insert(a, on);
                Response::WriteSingleCoil(a, on)
            }
            _ => return Err(ExceptionCode::IllegalFunction),
        }))
    }
}

#[derive(Clone)]
struct Device(Arc<Plant>);

impl Service for Device {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = Pin<Box<dyn Future<Output = Result<Option<Response>, ExceptionCode>> + Send>>;

    fn call(&self, req: SlaveRequest<'static>) -> Self::Future {
        let plant = self.0.clone();
        Box::pin(async move {
            let delay = *plant.delay.lock().unwrap();
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            plant.answer(req.slave, req.request)
        })
    }
}

/// The device's TCP endpoint; stops (closing every connection) on drop.
pub struct DeviceServer {
    pub addr: SocketAddr,
    pub plant: Arc<Plant>,
    /// RTU frames over TCP, as a serial-to-Ethernet gateway in transparent mode passes them.
    rtu: bool,
    task: JoinHandle<()>,
}

impl DeviceServer {
    pub async fn start() -> DeviceServer {
        Self::listen("127.0.0.1:0".parse().unwrap(), Arc::new(Plant::default()), false).await
    }

    /// A gateway that passes RTU frames (address, PDU, CRC) through a TCP port.
    pub async fn start_rtu_gateway() -> DeviceServer {
        Self::listen("127.0.0.1:0".parse().unwrap(), Arc::new(Plant::default()), true).await
    }

    async fn listen(addr: SocketAddr, plant: Arc<Plant>, rtu: bool) -> DeviceServer {
        let socket = TcpSocket::new_v4().unwrap();
        // Rebinding the same port right after a restart, with the old connections in TIME_WAIT.
        socket.set_reuseaddr(true).unwrap();
        socket.bind(addr).unwrap();
        let listener: TcpListener = socket.listen(16).unwrap();
        let addr = listener.local_addr().unwrap();
        let device = Device(plant.clone());
        let new_service = move |_| Ok(Some(device.clone()));
        let task = tokio::spawn(async move {
            let new_service = &new_service;
            if rtu {
                let on_connected = |stream, peer| async move {
                    rtu_over_tcp::accept_tcp_connection(stream, peer, new_service)
                };
                let _ = rtu_over_tcp::Server::new(listener).serve(&on_connected, |_| {}).await;
            } else {
                let on_connected =
                    |stream, peer| async move { tcp::accept_tcp_connection(stream, peer, new_service) };
                let _ = tcp::Server::new(listener).serve(&on_connected, |_| {}).await;
            }
        });
        DeviceServer { addr, plant, rtu, task }
    }

    /// Drops every connection (a device reboot, a switch port flapping) and listens again on the same port.
    pub async fn restart(self) -> DeviceServer {
        let (addr, plant, rtu) = (self.addr, self.plant.clone(), self.rtu);
        drop(self);
        tokio::time::sleep(Duration::from_millis(20)).await;
        Self::listen(addr, plant, rtu).await
    }
}

impl Drop for DeviceServer {
    fn drop(&mut self) {
        // Aborting `serve` cancels the server's token, which ends every connection task.
        self.task.abort();
    }
}

/// A hop between the driver and a [`DeviceServer`] that passes Modbus TCP frames on, and can hold back the
/// tail of an answer ([`Plant::late_tail`]). Stops on drop.
pub struct LossyNetwork {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl LossyNetwork {
    pub async fn start(device: &DeviceServer) -> LossyNetwork {
        let (upstream, plant) = (device.addr, device.plant.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut hops = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else { continue };
                let (mut client_rx, client_tx) = client.into_split();
                let (server_rx, mut server_tx) = server.into_split();
                hops.spawn(async move { tokio::io::copy(&mut client_rx, &mut server_tx).await.map(|_| ()) });
                hops.spawn(pass_answers(server_rx, client_tx, plant.clone()));
            }
        });
        LossyNetwork { addr, task }
    }
}

/// Answers, frame by frame (the MBAP length delimits them), from the device back to the driver.
async fn pass_answers(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    plant: Arc<Plant>,
) -> std::io::Result<()> {
    let mut frame = vec![0u8; 7];
    loop {
        from.read_exact(&mut frame[..7]).await?;
        let len = u16::from_be_bytes([frame[4], frame[5]]) as usize;
        frame.resize(6 + len, 0);
        from.read_exact(&mut frame[7..]).await?;
        let late = plant.late_tail.lock().unwrap().take();
        let mut sent = 0;
        if let Some(late) = late {
            to.write_all(&frame[..7]).await?;
            sent = 7;
            tokio::time::sleep(late).await;
        }
        to.write_all(&frame[sent..]).await?;
    }
}

impl Drop for LossyNetwork {
    fn drop(&mut self) {
        // The JoinSet of hops drops with the task, which aborts them and closes their sockets.
        self.task.abort();
    }
}

/// What the driver logs while the returned guard lives (this thread only: tokio's test runtime runs the
/// driver's task on it).
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber =
            tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    pub fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap()).lines().map(str::to_owned).collect()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One link's driver, running.
pub struct Running {
    pub sink: Arc<TestSink>,
    pub devices: HashMap<String, Arc<DeviceStats>>,
    pub registry: TagRegistry,
    pub texts: Arc<TextPool>,
    pub writes: mpsc::Sender<WriteRequest>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), DriverError>>,
}

/// Parses `[[modbus.link]]` as the agent would and starts its driver.
pub fn start(toml_text: &str) -> Running {
    type Sections = HashMap<String, HashMap<String, Vec<ModbusLinkConfig>>>;
    let mut file: Sections = toml::from_str(toml_text).unwrap_or_else(|e| panic!("{e}\n{toml_text}"));
    let link = &file.remove("modbus").and_then(|mut m| m.remove("link")).expect("a [[modbus.link]]")[0];
    assert_eq!(link.problems(), vec![], "{toml_text}");
    let mut registry = TagRegistry::new();
    for tag in link.devices.iter().flat_map(|d| &d.tags) {
        registry.intern(tag.name.get_ref());
    }
    let driver = link.build(|n| registry.id(n)).unwrap();
    let devices: HashMap<String, Arc<DeviceStats>> = link
        .devices
        .iter()
        .map(|d| d.name.get_ref().clone())
        .map(|n| (n.clone(), Arc::new(DeviceStats::new(&n))))
        .collect();
    let sink = Arc::new(TestSink::default());
    let texts = Arc::new(TextPool::new());
    let (writes, rx) = mpsc::channel(4);
    let (stop, shutdown) = Shutdown::new();
    let cx = DriverContext {
        publisher: Publisher::new(sink.clone()),
        writes: rx.into(),
        shutdown,
        clock: Arc::new(SystemClock),
        devices: devices.clone(),
        texts: texts.clone(),
        tag_ids: Arc::new(HashMap::new()),
    };
    let task = tokio::spawn(driver.run(cx));
    Running { sink, devices, registry, texts, writes, stop, task }
}

impl Running {
    /// Every sample of `tag` so far, oldest first.
    pub fn samples(&self, tag: &str) -> Vec<Sample> {
        let id = self.registry.id(tag).unwrap_or_else(|| panic!("no tag {tag}"));
        self.sink.taken.lock().unwrap().iter().filter(|s| s.tag == id).copied().collect()
    }

    pub fn latest(&self, tag: &str) -> Option<Sample> {
        self.samples(tag).last().copied()
    }

    pub fn device(&self, name: &str) -> &DeviceStats {
        &self.devices[name]
    }

    /// Waits up to `within` for `cond`, polling; panics with `what` if it never holds.
    pub async fn until(&self, within: Duration, what: &str, cond: impl Fn(&Running) -> bool) {
        let deadline = tokio::time::Instant::now() + within;
        while !cond(self) {
            assert!(tokio::time::Instant::now() < deadline, "not within {within:?}: {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn stop(self) {
        self.stop.send(true).unwrap();
        let outcome = tokio::time::timeout(Duration::from_secs(2), self.task).await;
        assert!(matches!(outcome, Ok(Ok(Ok(())))), "the driver stops cleanly on shutdown: {outcome:?}");
    }
}
