//! async-opcua's server in this process, on 127.0.0.1 at a free port: a boiler's address space under
//! Chinese names (numeric, string and GUID node ids, a ramping Double, an Int32, a Boolean, a Double
//! array, a writable setpoint, a structure), whose values can be set and nodes deleted while the agent
//! reads them; stopped without a goodbye and started again on the same port; with a PKI directory for
//! SignAndEncrypt. The second server, beside asyncua (`hil_tests::asyncua`), so the driver is held to
//! two independent implementations.
//!
//! Each server runs on a thread of its own with its own runtime: stopping it drops that runtime, which
//! closes every socket at once, as a killed process would.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use opcua::crypto::SecurityPolicy;
use opcua::server::address_space::{AddressSpace, NodeType, ObjectBuilder, VariableBuilder};
use opcua::server::diagnostics::NamespaceMetadata;
use opcua::server::node_manager::memory::{SimpleNodeManager, simple_node_manager};
use opcua::server::{ANONYMOUS_USER_TOKEN_ID, ServerBuilder, ServerEndpoint, ServerHandle, ServerUserToken};
use opcua::types::{
    DataEncoding, DataTypeId, DataValue, ExtensionObject, Guid, MessageSecurityMode, NodeId, NumericRange,
    ObjectId, ObjectTypeId, QualifiedName, Range, TimestampsToReturn, VariableTypeId, Variant,
};

/// The namespace asyncua's test server serves too, so `nsu=` tags read the same on both.
pub const URI: &str = "urn:edge-agent:test";
pub const GUID: &str = "09087e75-8e5e-499b-954f-f2a9603db28a";
/// Where the plant's namespace lands: after ns=0 (OPC UA) and ns=1 (the server's own).
pub const NS: u16 = 2;

/// Who may connect, and over what.
#[derive(Clone)]
enum Access {
    /// SecurityPolicy None, anonymous.
    Open,
    /// Basic256Sha256 SignAndEncrypt only, with this user and password; client certificates must be
    /// trusted by moving them from `rejected/` to `trusted/`.
    Encrypted { user: String, password: String },
}

pub struct OpcuaPeer {
    pub port: u16,
    access: Access,
    pki: tempfile::TempDir,
    running: Option<Running>,
}

struct Running {
    handle: ServerHandle,
    nodes: Arc<SimpleNodeManager>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OpcuaPeer {
    /// The plant without security, anonymous.
    pub fn start() -> OpcuaPeer {
        OpcuaPeer::with(Access::Open)
    }

    /// The plant over Basic256Sha256 SignAndEncrypt only, for `user` with `password`. The server makes
    /// its certificate on first start and trusts no client until its certificate is moved to trusted.
    pub fn encrypted(user: &str, password: &str) -> OpcuaPeer {
        OpcuaPeer::with(Access::Encrypted { user: user.into(), password: password.into() })
    }

    fn with(access: Access) -> OpcuaPeer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut peer = OpcuaPeer { port, access, pki: tempfile::tempdir().unwrap(), running: None };
        peer.restart();
        peer
    }

    pub fn endpoint(&self) -> String {
        format!("opc.tcp://127.0.0.1:{}/", self.port)
    }

    /// The server's PKI directory: `own/cert.der`, `private/`, `trusted/`, `rejected/`.
    pub fn pki(&self) -> &Path {
        self.pki.path()
    }

    /// Trusts every client certificate the server has refused so far, as its administrator would:
    /// moved from `rejected/` to `trusted/`. Returns how many.
    pub fn trust_rejected_clients(&self) -> usize {
        let (rejected, trusted) = (self.pki().join("rejected"), self.pki().join("trusted"));
        std::fs::create_dir_all(&trusted).unwrap();
        let mut n = 0;
        for f in std::fs::read_dir(&rejected).into_iter().flatten().map_while(Result::ok) {
            std::fs::rename(f.path(), trusted.join(f.file_name())).unwrap();
            n += 1;
        }
        n
    }

    /// Client certificates the server refused, by file name.
    /// Certificates the server refused, once written whole: the server creates the file, then writes it,
    /// so an empty one is still being written.
    pub fn rejected_clients(&self) -> Vec<PathBuf> {
        let dir = std::fs::read_dir(self.pki().join("rejected"));
        let written = |f: &std::fs::DirEntry| f.metadata().is_ok_and(|m| m.len() > 0);
        dir.into_iter().flatten().map_while(Result::ok).filter(written).map(|f| f.path()).collect()
    }

    /// Stops the server with no goodbye to its clients: every socket closes at once.
    pub fn stop(&mut self) {
        if let Some(mut r) = self.running.take() {
            let _ = r.stop.take().map(|s| s.send(()));
            let _ = r.thread.take().map(|t| t.join());
        }
    }

    /// Starts it again on the same port with the same certificate and fresh nodes.
    pub fn restart(&mut self) {
        self.stop();
        self.running = Some(serve(self.port, &self.access, self.pki.path()));
    }

    fn running(&self) -> &Running {
        self.running.as_ref().expect("the server runs")
    }

    /// Sets a variable's value now, as the plant would; subscribers are told.
    pub fn set(&self, node: &NodeId, value: impl Into<Variant>) {
        let r = self.running();
        r.nodes
            .set_value(r.handle.subscriptions(), node, None, DataValue::new_now(value.into()))
            .unwrap_or_else(|s| panic!("setting {node}: {s}"));
    }

    /// A variable's value as the server holds it (None when the node is not there).
    pub fn value(&self, node: &NodeId) -> Option<Variant> {
        let space = self.running().nodes.address_space().read();
        match space.find(node)? {
            NodeType::Variable(v) => {
                let dv =
                    v.value(TimestampsToReturn::Neither, &NumericRange::None, &DataEncoding::Binary, 0.0);
                dv.value
            }
            _ => None,
        }
    }

    /// Deletes a node and the references to it; the server tells its subscribers nothing.
    pub fn delete(&self, node: &NodeId) {
        let gone = self.running().nodes.address_space().write().delete(node, true);
        assert!(gone.is_some(), "no node {node} to delete");
    }

    /// Adds a writable Double under the boiler.
    pub fn add_double(&self, id: &str, name: &str, value: f64) {
        let mut space = self.running().nodes.address_space().write();
        assert!(variable(&node(id), name, DataTypeId::Double, value).writable().insert(&mut *space));
    }
}

impl Drop for OpcuaPeer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `ns=2;s=<id>`.
pub fn node(id: &str) -> NodeId {
    NodeId::new(NS, id)
}

pub fn temperature() -> NodeId {
    node("锅炉一号.温度")
}
pub fn pressure() -> NodeId {
    NodeId::new(NS, 1001u32)
}
pub fn valve() -> NodeId {
    node("锅炉一号.给水阀")
}

fn serve(port: u16, access: &Access, pki: &Path) -> Running {
    let (access, pki) = (access.clone(), pki.to_owned());
    let (ready_tx, ready) = mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let (server, handle) = match builder(port, &access, &pki).build() {
                Ok(s) => s,
                Err(e) => return drop(ready_tx.send(Err(format!("the server's settings: {e}")))),
            };
            let listener = match listen(port) {
                Ok(l) => l,
                Err(e) => return drop(ready_tx.send(Err(format!("listening on 127.0.0.1:{port}: {e}")))),
            };
            let nodes = handle.node_managers().get_of_type::<SimpleNodeManager>().expect("the plant's nodes");
            let ns = handle.get_namespace_index(URI);
            if ns != Some(NS) {
                return drop(ready_tx.send(Err(format!("{URI} is ns={ns:?}, the tests expect ns={NS}"))));
            }
            plant(&mut nodes.address_space().write());
            tokio::spawn(server.run_with(listener));
            let _ = ready_tx.send(Ok((handle.clone(), nodes.clone())));
            tokio::select! {
                _ = stopped => {}
                _ = run_plant(&handle, &nodes) => {}
            }
        });
        // The runtime drops here with every task on it: listener and connections close at once.
    });
    let (handle, nodes) = ready
        .recv_timeout(Duration::from_secs(30))
        .expect("the in-process OPC UA server starts within 30 s")
        .unwrap_or_else(|e| panic!("the in-process OPC UA server did not start: {e}"));
    Running { handle, nodes, stop: Some(stop), thread: Some(thread) }
}

fn builder(port: u16, access: &Access, pki: &Path) -> ServerBuilder {
    let url = format!("opc.tcp://127.0.0.1:{port}/");
    let b = ServerBuilder::new()
        .application_name("锅炉房测试服务器")
        .application_uri("urn:edge-agent:inproc-server")
        .product_uri("urn:edge-agent:inproc-server")
        .host("127.0.0.1")
        .port(port)
        .discovery_urls(vec![url])
        .pki_dir(pki)
        .trust_client_certs(false)
        .with_node_manager(simple_node_manager(
            NamespaceMetadata { namespace_uri: URI.into(), ..Default::default() },
            "锅炉房",
        ));
    match access {
        Access::Open => b
            .create_sample_keypair(false)
            .add_endpoint("none", ServerEndpoint::new_none("/", &[ANONYMOUS_USER_TOKEN_ID.to_owned()])),
        Access::Encrypted { user, password } => b
            .create_sample_keypair(true)
            .add_user_token("operator", ServerUserToken::user_pass(user.as_str(), password.as_str()))
            .add_endpoint(
                "basic256sha256_sign_encrypt",
                ServerEndpoint::new(
                    "/",
                    SecurityPolicy::Basic256Sha256,
                    MessageSecurityMode::SignAndEncrypt,
                    &["operator".to_owned()],
                ),
            ),
    }
}

/// SO_REUSEADDR: the restart binds the port its predecessor's connections still linger on.
fn listen(port: u16) -> std::io::Result<tokio::net::TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
    socket.listen(64)
}

fn variable(id: &NodeId, name: &str, data_type: DataTypeId, value: impl Into<Variant>) -> VariableBuilder {
    VariableBuilder::new(id, QualifiedName::new(NS, name), name)
        .data_type(data_type)
        .value(value)
        .component_of(node("锅炉一号"))
        .has_type_definition(VariableTypeId::BaseDataVariableType)
}

/// 锅炉一号 under Objects, with one variable of each kind the driver meets.
fn plant(space: &mut AddressSpace) {
    ObjectBuilder::new(&node("锅炉一号"), QualifiedName::new(NS, "锅炉一号"), "锅炉一号")
        .organized_by(ObjectId::ObjectsFolder)
        .has_type_definition(ObjectTypeId::BaseObjectType)
        .insert(space);
    let guid = NodeId::new(NS, Guid::from_str(GUID).unwrap());
    let range = ExtensionObject::from_message(Range { low: 0.0, high: 100.0 });
    let vars = [
        variable(&temperature(), "温度", DataTypeId::Double, 80.0),
        variable(&pressure(), "压力", DataTypeId::Double, 1.25),
        variable(&guid, "液位", DataTypeId::Int32, 42i32),
        variable(&NodeId::new(NS, 1002u32), "燃烧器运行", DataTypeId::Boolean, true),
        variable(&node("炉膛温度"), "炉膛温度", DataTypeId::Double, vec![1.5f64, 2.5, 3.5])
            .value_rank(1)
            .array_dimensions(&[3]),
        variable(&valve(), "给水阀", DataTypeId::Double, 40.0).writable(),
        variable(&node("锅炉一号.量程"), "量程", DataTypeId::Range, range),
    ];
    for v in vars {
        assert!(v.insert(space), "a plant node twice");
    }
}

/// Every 100 ms: the temperature ramps up by 0.1, the pressure wobbles, the burner toggles each second.
async fn run_plant(handle: &ServerHandle, nodes: &SimpleNodeManager) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    for t in 1u64.. {
        tick.tick().await;
        let values = [
            (temperature(), Variant::from(80.0 + 0.1 * t as f64)),
            (pressure(), Variant::from(1.25 + 0.001 * (t % 7) as f64)),
            (NodeId::new(NS, 1002u32), Variant::from((t / 10) % 2 == 0)),
        ];
        for (id, v) in values {
            // A deleted node is not set; the others go on.
            let _ = nodes.set_value(handle.subscriptions(), &id, None, DataValue::new_now(v));
        }
    }
}
