//! The site's tree (site → area → line → device): a group sums the meters under it; a meter with
//! meters under it also shows the unmetered loss, its reading minus theirs.

use serde::{Deserialize, Serialize};

/// What one node did in one grain, in millionths: µkWh (or µm³ of gas), µkg CO2, µ of the currency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    /// The node's own quantity: energy, or a gas meter's volume.
    pub q: i64,
    /// Electricity, which is what groups add up and losses compare.
    pub elec: i64,
    pub scope1: i64,
    pub scope2: i64,
    pub cost: i64,
    /// Electricity of the nodes right under it.
    pub children: i64,
    /// Production counted by the node's own output counter.
    pub output: i64,
    pub flags: u8,
    /// Flags of the nodes under it (a loss is as certain as the readings it is made of).
    pub child_flags: u8,
}

impl Flow {
    pub fn add(&mut self, o: &Flow) {
        self.q += o.q;
        self.elec += o.elec;
        self.scope1 += o.scope1;
        self.scope2 += o.scope2;
        self.cost += o.cost;
        self.children += o.children;
        self.output += o.output;
        self.flags |= o.flags;
        self.child_flags |= o.child_flags;
    }

    /// Unmetered loss: own reading minus the meters under it.
    pub fn loss(&self) -> i64 {
        self.elec - self.children
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    pub children: Vec<Vec<usize>>,
    /// Every node after the nodes under it.
    pub order: Vec<usize>,
    pub roots: Vec<usize>,
}

impl Tree {
    /// `parents[i]`: the index of node `i`'s parent. Err: a node in a loop.
    pub fn new(parents: &[Option<usize>]) -> Result<Tree, usize> {
        let n = parents.len();
        let mut children = vec![Vec::new(); n];
        let mut roots = Vec::new();
        for (i, p) in parents.iter().enumerate() {
            match p {
                Some(p) => children[*p].push(i),
                None => roots.push(i),
            }
        }
        let mut order = Vec::with_capacity(n);
        let mut stack: Vec<(usize, bool)> = roots.iter().rev().map(|&r| (r, false)).collect();
        while let Some((node, expanded)) = stack.pop() {
            if expanded {
                order.push(node);
                continue;
            }
            stack.push((node, true));
            stack.extend(children[node].iter().rev().map(|&c| (c, false)));
        }
        if order.len() < n {
            // Whatever no root reaches hangs in a loop of parents.
            let mut seen = vec![false; n];
            order.iter().for_each(|&i| seen[i] = true);
            return Err(seen.iter().position(|s| !s).unwrap_or(0));
        }
        Ok(Tree { children, order, roots })
    }

    /// Fills in each group from the nodes under it and each metered node's view of them, bottom up.
    /// `metered[i]`: node `i` has its own reading (its flow is already set).
    pub fn roll_up(&self, flows: &mut [Flow], metered: &[bool]) {
        for &n in &self.order {
            let mut under = Flow::default();
            for &c in &self.children[n] {
                under.add(&flows[c]);
            }
            if metered[n] {
                let f = &mut flows[n];
                f.children = under.elec;
                f.child_flags = under.flags | under.child_flags;
                // Fuel burnt under an electricity meter is not in its reading: it adds to the node's Scope 1.
                f.scope1 += under.scope1;
            } else {
                let output = flows[n].output;
                let flags = flows[n].flags;
                flows[n] = Flow {
                    q: under.elec,
                    elec: under.elec,
                    scope1: under.scope1,
                    scope2: under.scope2,
                    cost: under.cost,
                    children: under.elec,
                    output,
                    flags: flags | under.flags,
                    child_flags: under.flags | under.child_flags,
                };
            }
        }
    }
}
