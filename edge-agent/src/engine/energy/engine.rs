//! The energy engine: readings into grains per input, and once every input has closed a grain, that
//! grain into every node's books, the tree's sums and the site's emissions, in one fixed order.
//!
//! An input closes a grain at its first reading past the grain's end, or, when it sends nothing, once
//! any later time (a sample of another tag, a tick) is `late` past the end. Only the samples' own
//! timestamps move the books, so a replay after `kill -9` gives the same figures.

use std::collections::BTreeMap;

use protocols::{Quality, Sample, TagId, Timestamp, Value};
use serde::{Deserialize, Serialize};

use super::account::{Ends, Ids, NodeState, units};
use super::carbon::emissions;
use super::channel::{ChannelState, Grain, Noted};
use super::config::Medium;
use super::hierarchy::Flow;
use super::plan::Plan;
use super::tags::Slot;
use crate::engine::{Emitter, Engine, Event};

/// Emissions of the whole site, µkg CO2.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SiteState {
    pub day: (i64, i64),
    pub month: (i64, i64),
}

/// Everything that changes, saved with the engine's position in the store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Start and end of the oldest grain not yet in the books; none before the first sample.
    pub pending: Option<(i64, i64)>,
    pub channels: BTreeMap<String, ChannelState>,
    pub nodes: BTreeMap<String, NodeState>,
    pub site: SiteState,
}

pub struct EnergyEngine {
    pub(super) plan: Plan,
    /// By tag id: the channels reading it.
    by_tag: Vec<Vec<usize>>,
    ids: Vec<Ids>,
    site_ids: Vec<Option<TagId>>,
    pub(super) channels: Vec<ChannelState>,
    pub(super) nodes: Vec<NodeState>,
    pub(super) pending: Option<(i64, i64)>,
    pub(super) site: SiteState,
    /// Channels holding a closed grain: all of them, and the pending grain goes into the books.
    ready: usize,
    metered: Vec<bool>,
    /// By channel: the node it is the input of.
    owner: Vec<Option<usize>>,
    pub(super) changed: bool,
}

impl EnergyEngine {
    pub fn new(plan: Plan, tag_id: &dyn Fn(&str) -> Option<TagId>) -> EnergyEngine {
        let mut by_tag: Vec<Vec<usize>> = Vec::new();
        for (c, ch) in plan.channels.iter().enumerate() {
            if let Some(id) = tag_id(&ch.tag) {
                let i = id.0 as usize;
                if by_tag.len() <= i {
                    by_tag.resize(i + 1, Vec::new());
                }
                by_tag[i].push(c);
            }
        }
        let ids = plan.nodes.iter().map(|n| Ids::new(n, tag_id)).collect();
        let site_ids = super::tags::SITE_TAGS.iter().map(|t| plan.factors.and(tag_id(t))).collect();
        let metered = plan.nodes.iter().map(|n| n.input.is_some()).collect();
        let owner =
            (0..plan.channels.len()).map(|c| plan.nodes.iter().position(|n| n.input == Some(c))).collect();
        let periods = plan.tariff.as_ref().map_or(0, |t| t.periods.len());
        let nodes = plan
            .nodes
            .iter()
            .map(|_| NodeState { periods: vec![0; periods], ..NodeState::default() })
            .collect();
        EnergyEngine {
            channels: vec![ChannelState::default(); plan.channels.len()],
            plan,
            by_tag,
            ids,
            site_ids,
            nodes,
            pending: None,
            site: SiteState::default(),
            ready: 0,
            metered,
            owner,
            changed: false,
        }
    }

    /// Accounting begins in the grain holding `t`.
    fn begin(&mut self, t: i64) {
        let grain = self.plan.grain;
        let open = (self.plan.calendar.floor(t, grain), self.plan.calendar.next(t, grain));
        self.pending = Some(open);
        for ch in &mut self.channels {
            *ch = ChannelState::new(open);
        }
    }

    fn recount(&mut self) {
        self.ready = self.channels.iter().filter(|c| !c.closed.is_empty()).count();
    }

    /// Closes every input's grains ending by `t` without waiting for their readings.
    fn close_silent(&mut self, t: i64, out: &mut Emitter) {
        let Some((_, end)) = self.pending else { return };
        if t < end {
            return;
        }
        let calendar = &self.plan.calendar;
        let grain = self.plan.grain;
        for ch in &mut self.channels {
            ch.close_until(t, &|x| calendar.next(x, grain));
        }
        self.recount();
        self.book(out);
    }

    /// Puts every grain all inputs have closed into the books.
    fn book(&mut self, out: &mut Emitter) {
        while self.ready == self.channels.len()
            && let Some((start, end)) = self.pending
        {
            let grains: Vec<Grain> =
                self.channels.iter_mut().map(|c| c.closed.pop_front().unwrap_or_default()).collect();
            self.grain(start, end, &grains, out);
            self.pending = Some((end, self.plan.calendar.next(end, self.plan.grain)));
            self.recount();
            self.changed = true;
        }
    }

    /// One grain `[start, end)` into the books.
    fn grain(&mut self, start: i64, end: i64, grains: &[Grain], out: &mut Emitter) {
        let cal = &self.plan.calendar;
        let period = self.plan.tariff.as_ref().map(|t| {
            let (month, minute) = cal.month_minute(start);
            t.period_at(month, minute)
        });
        let price = period.zip(self.plan.tariff.as_ref()).map_or(0.0, |(p, t)| t.prices[p]);
        let ends = Ends {
            interval: cal.is_boundary(end, self.plan.interval),
            day: cal.day_start(end) == end,
            cycle: cal.cycle_start(end) == end,
            month: cal.month_start(end) == end,
        };
        let mut flows = vec![Flow::default(); self.plan.nodes.len()];
        for (n, node) in self.plan.nodes.iter().enumerate() {
            let f = &mut flows[n];
            if let Some(c) = node.input {
                let g = grains[c];
                f.q = g.amount;
                f.flags = g.flags;
                match node.medium {
                    Medium::Electricity => {
                        f.elec = g.amount;
                        f.cost = (g.amount as f64 * price).round() as i64;
                        f.scope2 = self.plan.factors.map_or(0, |k| emissions(g.amount, k.grid));
                    }
                    Medium::NaturalGas => {
                        f.scope1 = self.plan.factors.map_or(0, |k| emissions(g.amount, k.gas_per_m3))
                    }
                }
            }
            if let Some(c) = node.output {
                f.output = grains[c].amount;
            }
        }
        self.plan.tree.roll_up(&mut flows, &self.metered);
        for (n, node) in self.plan.nodes.iter().enumerate() {
            let (state, ids, f) = (&mut self.nodes[n], &self.ids[n], &flows[n]);
            state.add(f, period);
            if let Some(d) = &node.demand {
                let at_slip = cal.is_boundary(end, d.slip) && cal.is_boundary(end, self.plan.grain);
                if let Some(w) = state.demand.grain(d, end, f.elec, f.flags, at_slip) {
                    ids.put(out, Slot::Demand as usize, end, w.kw, w.flags);
                    if w.new_max {
                        ids.put(out, Slot::DemandMax as usize, end, w.kw, w.flags);
                    }
                }
                if ends.cycle
                    && let Some((sum, _, flags)) = state.demand.max
                {
                    ids.put(out, Slot::CycleDemandMax as usize, end, d.kw(sum), flags);
                }
            }
            state.close(ids, end, ends, out);
        }
        let roots = self.plan.tree.roots.iter().map(|&r| flows[r]);
        let (s1, s2) = roots.fold((0, 0), |(a, b), f| (a + f.scope1, b + f.scope2));
        let site = &mut self.site;
        site.day = (site.day.0 + s1, site.day.1 + s2);
        site.month = (site.month.0 + s1, site.month.1 + s2);
        let mut put = |i: usize, v: i64| {
            if let Some(Some(tag)) = self.site_ids.get(i) {
                out.sample(Sample::good(*tag, Timestamp(end), Value::Float(units(v))));
            }
        };
        if ends.day {
            let (a, b) = std::mem::take(&mut site.day);
            put(0, a);
            put(1, b);
        }
        if ends.month {
            let (a, b) = std::mem::take(&mut site.month);
            put(2, a);
            put(3, b);
        }
    }

    fn event(&self, ts: i64, message: String, out: &mut Emitter) {
        out.event(Event { ts: Timestamp(ts), source: "energy".into(), message });
    }

    fn reading(&mut self, c: usize, ts: i64, v: f64, out: &mut Emitter) {
        let calendar = &self.plan.calendar;
        let grain = self.plan.grain;
        let plan = &self.plan.channels[c];
        let had = !self.channels[c].closed.is_empty();
        let noted = self.channels[c].reading(&plan.source, ts, v, &|x| calendar.next(x, grain));
        if !had && !self.channels[c].closed.is_empty() {
            self.ready += 1;
        }
        let key = &plan.key;
        match noted {
            Noted::Nothing => {}
            Noted::Reset { from, to } => self.event(
                ts,
                format!("{key}: register went from {from} to {to}; taken as a reset or a new meter, not as consumption"),
                out,
            ),
            Noted::Gap { seconds } => self.event(
                ts,
                format!("{key}: no power reading for {seconds:.1} s, longer than max_gap: that energy is not integrated and its intervals are uncertain"),
                out,
            ),
        }
        // Each meter publishes its total at its first reading, so `edge-agent test` shows it is wired.
        if let Some(n) = self.owner[c]
            && !self.nodes[n].announced
        {
            self.nodes[n].announced = true;
            self.ids[n].put(out, Slot::Total as usize, ts, units(self.nodes[n].total), 0);
        }
    }
}

impl Engine for EnergyEngine {
    fn on_sample(&mut self, sample: &Sample, out: &mut Emitter) {
        let ts = sample.ts.0;
        let tag = sample.tag.0 as usize;
        let readers = self.by_tag.get(tag).map_or(0, Vec::len);
        if readers == 0 {
            return;
        }
        if self.pending.is_none() {
            self.begin(ts);
        }
        let value = sample.value.as_f64().filter(|v| v.is_finite());
        for i in 0..readers {
            let c = self.by_tag[tag][i];
            match (sample.quality, value) {
                (Quality::Good, Some(v)) => self.reading(c, ts, v, out),
                // A failed read says time passed with no reading: the meter's grains up to it close.
                _ => {
                    let calendar = &self.plan.calendar;
                    let grain = self.plan.grain;
                    let had = !self.channels[c].closed.is_empty();
                    self.channels[c].close_until(ts, &|x| calendar.next(x, grain));
                    if !had && !self.channels[c].closed.is_empty() {
                        self.ready += 1;
                    }
                }
            }
        }
        self.book(out);
        self.close_silent(ts.saturating_sub(self.plan.late), out);
    }

    fn on_tick(&mut self, now: Timestamp, out: &mut Emitter) {
        self.close_silent(now.0.saturating_sub(self.plan.late), out);
    }

    fn save(&self) -> Option<serde_json::Value> {
        serde_json::to_value(self.state()).ok()
    }

    fn restore(&mut self, state: serde_json::Value) -> Result<(), String> {
        let state: State = serde_json::from_value(state).map_err(|e| e.to_string())?;
        self.take_state(state);
        Ok(())
    }

    fn view(&mut self) -> Option<serde_json::Value> {
        std::mem::take(&mut self.changed).then(|| super::view::view(self))
    }
}

impl EnergyEngine {
    pub fn state(&self) -> State {
        let key = |i: usize| self.plan.channels[i].key.clone();
        State {
            pending: self.pending,
            channels: self.channels.iter().enumerate().map(|(i, c)| (key(i), c.clone())).collect(),
            nodes: self
                .plan
                .nodes
                .iter()
                .zip(&self.nodes)
                .map(|(p, n)| (p.name.clone(), n.clone()))
                .collect(),
            site: self.site,
        }
    }

    /// Takes a saved state; a meter added since starts fresh, one removed is dropped.
    fn take_state(&mut self, mut state: State) {
        self.pending = state.pending;
        self.site = state.site;
        let open = state.pending.unwrap_or_default();
        for (i, plan) in self.plan.channels.iter().enumerate() {
            self.channels[i] = state.channels.remove(&plan.key).unwrap_or_else(|| ChannelState::new(open));
        }
        let periods = self.plan.tariff.as_ref().map_or(0, |t| t.periods.len());
        for (i, plan) in self.plan.nodes.iter().enumerate() {
            let mut node = state.nodes.remove(&plan.name).unwrap_or_default();
            node.periods.resize(periods, 0);
            self.nodes[i] = node;
        }
        self.recount();
        self.changed = true;
    }
}
