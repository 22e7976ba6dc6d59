//! Control loops' compute on this machine: one MPC move for the Wood–Berry column (2 × 2, FOPDT with dead
//! times, Wood & Berry 1973) with a 30-period prediction and 10-move control horizon, solved by clarabel
//! with its setup reused (only q and b change), against the same solve set up from scratch, the target
//! layer's solve, and one PID step, in one run.
//!   cargo bench -p benches --bench control
//! Before criterion's figures it prints p50/p99/max of 2000 timed MPC moves along a closed-loop run, on a
//! thread at normal priority and on one at SCHED_FIFO 10 (as the loop host runs loops, when it may).

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use edge_agent::engine::control::mpc::controller::{Controller, Limits, Present, Tuning};
use edge_agent::engine::control::mpc::model::{Channel, StateSpace};
use edge_agent::engine::control::mpc::qp::Clarabel;
use edge_agent::engine::control::mpc::target::{TargetSpec, solve};
use edge_agent::engine::control::pid::{Action, AntiWindup, Gains, OutputLimits, Pid};

fn column() -> StateSpace {
    let ch = |gain: f64, tau_min: f64, dead_min: f64| {
        Some(Channel { gain, time_constant_s: tau_min * 60.0, dead_time_s: dead_min * 60.0 })
    };
    StateSpace::from_fopdt(
        &[vec![ch(12.8, 16.7, 1.0), ch(-18.9, 21.0, 3.0)], vec![ch(6.6, 10.9, 7.0), ch(-19.4, 14.4, 3.0)]],
        60.0,
    )
}

fn tuning() -> Tuning {
    Tuning {
        prediction: 30,
        control: 10,
        cv_weight: vec![1.0, 1.0],
        move_weight: vec![0.5, 0.5],
        target_weight: vec![0.0, 0.0],
        soft: 1e3,
    }
}

fn limits() -> Limits {
    Limits {
        u_min: vec![1.0, 1.0],
        u_max: vec![3.0, 3.0],
        du_max: vec![0.1, 0.1],
        y_min: vec![94.0, 0.0],
        y_max: vec![99.0, 2.0],
    }
}

/// (state, disturbance, inputs, setpoints) along a closed-loop run with setpoint steps and a drifting
/// unmeasured disturbance, so every solve sees a different q and b.
/// Model state, disturbance, inputs and setpoints at one period.
type Moment = (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>);

fn states() -> Vec<Moment> {
    let model = column();
    let mut c = Controller::new(model.clone(), tuning(), Box::new(Clarabel::default()));
    let mut u = vec![1.95, 1.71];
    let mut x = model.steady_state(&u).unwrap();
    let mut out = Vec::new();
    for k in 0..400 {
        let sp = if (k / 40) % 2 == 0 { vec![96.0, 0.5] } else { vec![97.0, 1.0] };
        let d = vec![
            96.0 - 12.8 * 1.95 + 18.9 * 1.71 + 0.3 * (k as f64 / 25.0).sin(),
            0.5 - 6.6 * 1.95 + 19.4 * 1.71,
        ];
        out.push((x.clone(), d.clone(), u.clone(), sp.clone()));
        let now = Present { x: &x, d: &d, u: &u, y_target: &sp, u_target: &u };
        let (du, _) = c.plan(&now, &limits(), Duration::from_millis(200)).unwrap();
        for (ui, d) in u.iter_mut().zip(du) {
            *ui += d;
        }
        x = model.step(&x, &u);
    }
    out
}

/// Runs `f` on a thread at SCHED_FIFO 10, or says why it could not.
fn realtime<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, String> {
    use thread_priority::unix::{
        RealtimeThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy, thread_native_id,
    };
    use thread_priority::{ThreadPriority, ThreadPriorityValue};
    std::thread::scope(|s| {
        s.spawn(|| {
            let p = ThreadPriorityValue::try_from(10u8).map_err(|e| e.to_string())?;
            let policy = ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo);
            set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Crossplatform(p), policy)
                .map_err(|e| format!("{e:?}"))?;
            Ok(f())
        })
        .join()
        .map_err(|_| "the timing thread panicked".to_owned())?
    })
}

fn percentiles(states: &[Moment]) {
    timed(states, "normal priority");
    if let Err(e) = realtime(|| timed(states, "SCHED_FIFO 10")) {
        eprintln!("SCHED_FIFO not allowed here ({e}): only normal priority timed");
    }
}

fn timed(states: &[Moment], how: &str) {
    let mut c = Controller::new(column(), tuning(), Box::new(Clarabel::default()));
    let mut iterations = Vec::new();
    let mut times: Vec<Duration> = (0..2000)
        .map(|i| {
            let (x, d, u, sp) = &states[i % states.len()];
            let t = Instant::now();
            let now = Present { x, d, u, y_target: sp, u_target: u };
            let (_, solved) = c.plan(&now, &limits(), Duration::from_millis(200)).unwrap();
            iterations.push(solved.iterations);
            t.elapsed()
        })
        .collect();
    times.sort();
    iterations.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    eprintln!(
        "MPC move, Wood–Berry, P = 30, M = 10 (2000 solves, {how}): p50 {:?}, p99 {:?}, max {:?}; iterations p50 {}, max {}",
        at(0.5),
        at(0.99),
        times.last().unwrap(),
        iterations[iterations.len() / 2],
        iterations.last().unwrap()
    );
}

fn bench(cr: &mut Criterion) {
    let states = states();
    percentiles(&states);
    let mut group = cr.benchmark_group("wood_berry_P30_M10");
    let mut warm = Controller::new(column(), tuning(), Box::new(Clarabel::default()));
    let mut i = 0;
    group.bench_function("mpc move, solver set up once (q, b updated)", |b| {
        b.iter(|| {
            let (x, d, u, sp) = &states[i % states.len()];
            i += 1;
            warm.plan(&Present { x, d, u, y_target: sp, u_target: u }, &limits(), Duration::from_millis(200))
                .unwrap()
        })
    });
    group.bench_function("mpc move, solver set up every time", |b| {
        b.iter(|| {
            let (x, d, u, sp) = &states[i % states.len()];
            i += 1;
            let mut cold = Controller::new(column(), tuning(), Box::new(Clarabel::default()));
            cold.plan(&Present { x, d, u, y_target: sp, u_target: u }, &limits(), Duration::from_millis(200))
                .unwrap()
        })
    });
    let gains = column().gains().unwrap();
    let mut solver = Clarabel::default();
    group.bench_function("target layer", |b| {
        b.iter(|| {
            let (_, d, u, _) = &states[i % states.len()];
            i += 1;
            let spec = TargetSpec {
                gains: &gains,
                disturbance: d,
                setpoint: &[Some(96.5), None],
                cv_weight: &[1.0, 1.0],
                y_min: &[94.0, 0.0],
                y_max: &[99.0, 2.0],
                u_min: &[1.0, 1.0],
                u_max: &[3.0, 3.0],
                cost: &[0.0, 1.0],
                u_now: u,
                soft: 1e3,
            };
            solve(&mut solver, &spec, Duration::from_millis(200)).unwrap()
        })
    });
    let g = Gains {
        kp: 0.29,
        ki: 0.0036,
        kd: 0.0,
        b: 1.0,
        tf: 0.0,
        tt: 80.0,
        anti_windup: AntiWindup::BackCalculation,
        action: Action::Reverse,
    };
    let mut pid = Pid::new(g, OutputLimits { min: 0.0, max: 100.0, rate: None }, 40.0);
    group.bench_function("pid step (baseline)", |b| {
        b.iter(|| {
            i += 1;
            pid.update(865.0, 860.0 + (i % 10) as f64, 0.0, 1.0)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
