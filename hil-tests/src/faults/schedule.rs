//! A seeded random schedule of faults: a fault from a menu for a while, then a calm spell, again and
//! again. Pure, so a soak's seed replays the same sequence.

use std::time::Duration;

use super::plan::{Fault, Rng};

/// What a schedule picks from, and how long faults and calm spells last.
#[derive(Debug, Clone)]
pub struct Menu {
    pub faults: Vec<Fault>,
    /// Each fault lasts between these.
    pub hold: (Duration, Duration),
    /// Each calm spell (pass) between two faults lasts between these.
    pub calm: (Duration, Duration),
}

impl Menu {
    /// Every kind but flipped bytes, which only links with a checksum can detect: safe for any peer.
    pub fn any_link() -> Menu {
        let ms = Duration::from_millis;
        Menu {
            faults: vec![
                Fault::Latency { delay: ms(100), jitter: ms(400) },
                Fault::Bandwidth { bytes_per_sec: 4000 },
                Fault::Drop { chance: 0.1 },
                Fault::Reset { chance: 0.1 },
                Fault::Refuse,
                Fault::Blackhole,
            ],
            hold: (ms(500), ms(4000)),
            calm: (ms(500), ms(3000)),
        }
    }

    /// [`Menu::any_link`] and flipped bytes, for links whose frames carry a checksum (Modbus RTU's CRC).
    pub fn checked_link() -> Menu {
        let mut menu = Menu::any_link();
        menu.faults.push(Fault::Flip { chance: 0.2 });
        menu
    }
}

/// One step: `fault` for `hold`.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub fault: Fault,
    pub hold: Duration,
}

/// Endless steps: a fault, a calm spell, a fault, ...
#[derive(Debug, Clone)]
pub struct Schedule {
    rng: Rng,
    menu: Menu,
    calm_next: bool,
}

impl Schedule {
    pub fn new(seed: u64, menu: Menu) -> Schedule {
        assert!(!menu.faults.is_empty(), "a fault schedule needs at least one fault on its menu");
        Schedule { rng: Rng::new(seed), menu, calm_next: false }
    }
}

impl Iterator for Schedule {
    type Item = Step;

    fn next(&mut self) -> Option<Step> {
        let calm = self.calm_next;
        self.calm_next = !calm;
        let (fault, (lo, hi)) = match calm {
            true => (Fault::Pass, self.menu.calm),
            false => {
                let i = self.rng.below(self.menu.faults.len() as u64) as usize;
                (self.menu.faults[i].clone(), self.menu.hold)
            }
        };
        Some(Step { fault, hold: self.rng.span(lo, hi) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_its_schedule_and_another_seed_differs() {
        let take = |seed| Schedule::new(seed, Menu::checked_link()).take(40).collect::<Vec<_>>();
        assert_eq!(take(42), take(42));
        assert_ne!(take(42), take(43));
    }

    #[test]
    fn faults_alternate_with_calm_spells_within_their_bounds_and_every_kind_comes_up() {
        let menu = Menu::checked_link();
        let steps: Vec<Step> = Schedule::new(1, menu.clone()).take(400).collect();
        for (i, s) in steps.iter().enumerate() {
            let (lo, hi) = if i % 2 == 1 { menu.calm } else { menu.hold };
            assert_eq!(s.fault == Fault::Pass, i % 2 == 1, "step {i}: {s:?}");
            assert!(s.hold >= lo && s.hold <= hi, "step {i}: {s:?}");
        }
        for f in &menu.faults {
            assert!(steps.iter().any(|s| s.fault == *f), "{f} never scheduled in 200 faults");
        }
    }
}
