//! Routes a write to the driver that owns the tag, after checking the tag is writable and the value is
//! inside its limits. The only way a value reaches an actuator.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use drivers::{WritableSpec, WriteError, WriteRequest};
use protocols::{TagId, Value};
use tokio::sync::{mpsc, oneshot, watch};

use crate::config::Config;

struct Route {
    name: String,
    spec: WritableSpec,
    link: mpsc::Sender<WriteRequest>,
}

#[derive(Clone, Default)]
pub struct WriteRouter {
    routes: Arc<HashMap<TagId, Route>>,
    names: Arc<HashMap<String, TagId>>,
}

/// A driver gets this long to confirm a write before the caller is told it did not arrive.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

impl WriteRouter {
    /// Routes for every writable tag of `links` (tag ids with the sender of the link that owns them);
    /// `names` is the generation's index of every tag by name, shared, not copied.
    pub fn new(
        config: &Config,
        names: Arc<HashMap<String, TagId>>,
        links: &[(Vec<TagId>, mpsc::Sender<WriteRequest>)],
    ) -> Self {
        let mut routes = HashMap::new();
        for (tags, link) in links {
            for &tag in tags {
                let info = &config.tags.info[tag.0 as usize];
                if let Some(spec) = info.writable {
                    routes.insert(tag, Route { name: info.name.clone(), spec, link: link.clone() });
                }
            }
        }
        WriteRouter { routes: Arc::new(routes), names }
    }

    pub async fn write(&self, tag: &str, value: Value) -> Result<(), WriteError> {
        let Some(route) = self.names.get(tag).and_then(|id| self.routes.get(id).map(|r| (id, r))) else {
            return Err(WriteError::NotWritable { tag: tag.to_owned() });
        };
        let (&id, route) = route;
        route.spec.check(&route.name, value)?;
        let (reply, answer) = oneshot::channel();
        let lost = || WriteError::Link { tag: route.name.clone(), reason: "the link is stopping".into() };
        route.link.send(WriteRequest { tag: id, value, reply }).await.map_err(|_| lost())?;
        match tokio::time::timeout(WRITE_TIMEOUT, answer).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(lost()),
            Err(_) => Err(WriteError::Link {
                tag: route.name.clone(),
                reason: format!("no confirmation from the link within {}s", WRITE_TIMEOUT.as_secs()),
            }),
        }
    }
}

/// The write router of the generation running now. An uplink outlives a reload that left its config
/// alone, so the commands its peer sends must reach the links of whichever generation followed.
#[derive(Clone)]
pub struct Routes(watch::Receiver<WriteRouter>);

impl Routes {
    /// Routes that follow what is sent on the returned sender.
    pub fn following(router: WriteRouter) -> (watch::Sender<WriteRouter>, Routes) {
        let (tx, rx) = watch::channel(router);
        (tx, Routes(rx))
    }

    /// Routes that never change (an uplink started outside a running plant).
    pub fn fixed(router: WriteRouter) -> Routes {
        Routes::following(router).1
    }

    pub async fn write(&self, tag: &str, value: Value) -> Result<(), WriteError> {
        let router = self.0.borrow().clone();
        router.write(tag, value).await
    }
}

impl Default for Routes {
    fn default() -> Self {
        Routes::fixed(WriteRouter::default())
    }
}
