//! A reload, link by link: a link whose config did not change keeps running (its connection, its scan
//! schedule, its counters) and moves into the next generation through its relay; a changed link is
//! stopped and started again from its new config; a removed one is stopped. Uplinks likewise: an
//! unchanged one keeps its connection and position (`uplinks.rs`), a changed one restarts from its
//! cursor. Engines restart with each generation from their checkpoint, losing nothing: they read the
//! generation's ring, which a reload replaces.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use drivers::{Clock, WriteRequest};
use protocols::{TagId, TagRegistry, TextPool};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::links::LinkRun;
use super::uplinks::UplinkRun;
use super::{Running, WRITE_QUEUE};
use crate::config::Config;
use crate::store::persist::Persist;

/// What a generation takes over from the one before it.
#[derive(Default)]
pub struct Carried {
    pub texts: Option<Arc<TextPool>>,
    /// Running links, by their index in the next config.
    pub kept: HashMap<usize, LinkRun>,
    /// Running uplinks whose config did not change, by name.
    pub uplinks: HashMap<String, UplinkRun>,
}

/// What a reload did with the links, or with the uplinks, by name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    pub kept: Vec<String>,
    pub restarted: Vec<String>,
    pub started: Vec<String>,
    pub stopped: Vec<String>,
}

/// What a reload did with each link and each uplink.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    pub links: Changes,
    pub uplinks: Changes,
}

impl std::fmt::Display for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |v: &[String]| if v.is_empty() { "none".to_owned() } else { v.join(", ") };
        write!(
            f,
            "kept running: {}; restarted: {}; started: {}; stopped: {}",
            list(&self.kept),
            list(&self.restarted),
            list(&self.started),
            list(&self.stopped)
        )
    }
}

impl std::fmt::Display for ReloadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "links {}; uplinks {}", self.links, self.uplinks)
    }
}

fn same_ids(a: &TagRegistry, b: &TagRegistry) -> bool {
    a.len() == b.len() && a.iter().all(|(id, name)| b.id(name) == Some(id))
}

/// The sender the next generation's router uses for a kept link: the link's own queue when tag ids did
/// not move, else a forwarder that puts the writes back into the ids the driver was built with.
pub(super) fn forward_writes(
    kept: &LinkRun,
    config: &Config,
) -> (mpsc::Sender<WriteRequest>, Option<JoinHandle<()>>) {
    let (origin, current) = (&kept.origin.tags.registry, &config.tags.registry);
    if same_ids(origin, current) {
        return (kept.writes.clone(), None);
    }
    let back: HashMap<TagId, TagId> =
        current.iter().filter_map(|(id, name)| Some((id, origin.id(name)?))).collect();
    let (tx, mut rx) = mpsc::channel::<WriteRequest>(WRITE_QUEUE);
    let to = kept.writes.clone();
    let task = tokio::spawn(async move {
        while let Some(mut write) = rx.recv().await {
            // A tag the driver never had cannot be routed to this link: the router checked that.
            let Some(&tag) = back.get(&write.tag) else { continue };
            write.tag = tag;
            if to.send(write).await.is_err() {
                break;
            }
        }
    });
    (tx, Some(task))
}

impl Running {
    /// Replaces this generation with one running `next`, keeping unchanged links running throughout.
    pub async fn reload(
        mut self,
        next: Config,
        clock: Arc<dyn Clock>,
        process_start: Instant,
        store: Option<&Persist>,
        grace: Duration,
    ) -> (Running, ReloadReport) {
        let deadline = tokio::time::Instant::now() + grace;
        // Drivers resolve files under data_dir when built: a new one builds every link anew.
        let same_dir = next.agent.data_dir == self.generation.config.agent.data_dir;
        let mut old: Vec<Option<LinkRun>> = std::mem::take(&mut self.links).into_iter().map(Some).collect();
        let mut report = ReloadReport::default();
        let mut kept = HashMap::new();
        for (i, link) in next.links.iter().enumerate() {
            let same = |o: &Option<LinkRun>| {
                o.as_ref().is_some_and(|o| o.name == link.name() && o.config.same_as(&**link))
            };
            match old.iter().position(same).filter(|_| same_dir) {
                Some(j) => {
                    if let Some(run) = old[j].take() {
                        report.links.kept.push(run.name.clone());
                        kept.insert(i, run);
                    }
                }
                None if old.iter().flatten().any(|o| o.name == link.name()) => {
                    report.links.restarted.push(link.name().to_owned())
                }
                None => report.links.started.push(link.name().to_owned()),
            }
        }
        // Changed and removed links stop first: a serial port or a one-connection PLC is then free.
        for run in old.into_iter().flatten() {
            if !report.links.restarted.contains(&run.name) {
                report.links.stopped.push(run.name.clone());
            }
            run.stop(deadline).await;
        }
        // An unchanged uplink reads the same store on: it leaves this generation before it stops.
        // The others stay in it and stop with it.
        let mut uplinks = HashMap::new();
        for run in std::mem::take(&mut self.uplinks) {
            let name = run.config.name.clone();
            match next.uplinks.iter().find(|c| c.name == name) {
                Some(cfg) if *cfg == run.config && store.is_some() => {
                    report.uplinks.kept.push(name.clone());
                    uplinks.insert(name, run);
                    continue;
                }
                Some(_) => report.uplinks.restarted.push(name),
                None => report.uplinks.stopped.push(name),
            }
            self.uplinks.push(run);
        }
        let known =
            |name: &String| report.uplinks.kept.contains(name) || report.uplinks.restarted.contains(name);
        let started: Vec<String> =
            next.uplinks.iter().map(|c| &c.name).filter(|n| !known(n)).cloned().collect();
        report.uplinks.started = started;
        // Kept links go on acquiring into their relays while this generation drains.
        kept.values().for_each(|run| run.relay.hold());
        let texts = self.generation.texts.clone();
        self.stop(deadline.saturating_duration_since(tokio::time::Instant::now())).await;
        let carried = Carried { texts: Some(texts), kept, uplinks };
        let (running, _) = Running::start_inner(next, clock, process_start, false, store, carried);
        (running, report)
    }
}
