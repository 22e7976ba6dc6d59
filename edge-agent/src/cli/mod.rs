//! The command line: `run`, `check`, `test`, `alarms`, `modbus read`, `opcua browse`, `version`.

pub mod alarms;
pub mod control;
pub mod modbus;
pub mod opcua;
pub mod run;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use drivers::units::Span;
use drivers::{Clock, SystemClock};

use crate::config::{self, Config};
use crate::engine::Emitter;
use crate::runtime::Running;
use crate::runtime::engines::{EngineSet, log_event};

pub const DEFAULT_CONFIG: &str = "/etc/edge-agent/agent.toml";

#[derive(Parser, Debug)]
#[command(name = "edge-agent", version, about = "Edge data acquisition and control for industrial gateways")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the agent until SIGTERM/SIGINT; SIGHUP reloads the config.
    Run {
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Validate the config: a summary and exit 0, or every error and exit 2.
    Check {
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Scan every device once, run the engines once, print line protocol; exit 1 if a device failed.
    Test {
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// How long to wait for every device's first scan.
        #[arg(long, default_value = "10s")]
        timeout: Span,
    },
    /// The running agent's alarms: list, ack, shelve, unshelve, out-of-service, in-service.
    Alarms(alarms::AlarmsArgs),
    /// Commissioning tools for Modbus devices.
    #[command(subcommand)]
    Modbus(ModbusCommand),
    /// Commissioning tools for OPC UA servers.
    #[command(subcommand)]
    Opcua(OpcuaCommand),
    /// Control loops offline: step tests against the simulated plant.
    #[command(subcommand)]
    Control(ControlCommand),
    /// Print the version and build.
    Version,
}

#[derive(Subcommand, Debug)]
pub enum ModbusCommand {
    /// Read registers once and print them raw and decoded (in every byte order unless --order is given).
    Read(modbus::ReadArgs),
}

#[derive(Subcommand, Debug)]
pub enum OpcuaCommand {
    /// The address space as a tree (node ids, names, data types, access) and a TOML block to paste.
    Browse(opcua::BrowseArgs),
}

#[derive(Subcommand, Debug)]
pub enum ControlCommand {
    /// A closed-loop setpoint step against the loop's simulated plant: IAE, overshoot, settling, SVG plot.
    Simulate(control::SimulateArgs),
}

/// Exit codes: 0 fine, 1 a device failed (`test`) or the agent failed, 2 the config is invalid.
pub fn main(process_start: Instant) -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!(
                "edge-agent {} ({} {}, {} build)",
                env!("CARGO_PKG_VERSION"),
                std::env::consts::ARCH,
                std::env::consts::OS,
                if cfg!(debug_assertions) { "debug" } else { "release" }
            );
            ExitCode::SUCCESS
        }
        Command::Modbus(ModbusCommand::Read(args)) => runtime().block_on(modbus::read(args)),
        Command::Control(ControlCommand::Simulate(args)) => control::simulate(args),
        Command::Opcua(OpcuaCommand::Browse(args)) => runtime().block_on(opcua::browse_cmd(args)),
        Command::Alarms(args) => runtime().block_on(alarms::run(args)),
        Command::Check { config } => match config::load(&config) {
            Ok(cfg) => {
                print!("{}", cfg.summary());
                println!("ok: {} is valid", config.display());
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprint!("{errors}");
                ExitCode::from(2)
            }
        },
        Command::Run { config: path } => {
            crate::logging::init();
            let cfg = match config::load(&path) {
                Ok(cfg) => cfg,
                Err(errors) => {
                    eprint!("{errors}");
                    return ExitCode::from(2);
                }
            };
            let result = runtime().block_on(run::run(path, cfg, process_start));
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Test { config: path, timeout } => {
            let cfg = match config::load(&path) {
                Ok(cfg) => cfg,
                Err(errors) => {
                    eprint!("{errors}");
                    return ExitCode::from(2);
                }
            };
            let report = runtime().block_on(test(cfg, timeout.get(), &mut std::io::stdout().lock()));
            eprintln!("{}", report.summary());
            if report.all_good() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
    }
}

/// Two workers: gateways have 1 to 4 cores, and acquisition is I/O-bound.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("edge-agent")
        .enable_all()
        .build()
        .expect("the tokio runtime starts")
}

/// What one `edge-agent test` found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TestReport {
    pub devices_failed: usize,
    pub good: usize,
    pub uncertain: usize,
    pub bad: usize,
    /// Tags of devices that gave no sample at all.
    pub missing: usize,
}

impl TestReport {
    /// Every device answered and every tag it declares read Good or Uncertain.
    pub fn all_good(&self) -> bool {
        self.devices_failed == 0 && self.bad == 0 && self.missing == 0
    }

    pub fn summary(&self) -> String {
        format!(
            "{} tags good, {} uncertain, {} bad, {} without a sample; {} device(s) failed",
            self.good, self.uncertain, self.bad, self.missing, self.devices_failed
        )
    }
}

/// `edge-agent test`: one scan of every device, engines once, line protocol on `out`, per-device errors
/// and each Bad tag with its reason on stderr.
pub async fn test(config: Config, timeout: Duration, out: &mut impl std::io::Write) -> TestReport {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (running, mut tap) = Running::start_tapped(config, clock.clone());
    let generation = running.generation.clone();
    let deadline = tokio::time::Instant::now() + timeout;
    // A device has answered once it completed a scan, delivered a pushed sample, or failed.
    let answered = |d: &drivers::DeviceStats| {
        use std::sync::atomic::Ordering::Relaxed;
        d.scans.load(Relaxed) > 0 || d.samples.load(Relaxed) > 0 || d.last_error().is_some()
    };
    while !generation.devices.iter().all(|d| answered(d)) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    running.stop(Duration::from_secs(2)).await;

    let mut acquired = Vec::new();
    let mut batch = Vec::new();
    while tap.read(&mut batch, 4096).await.is_some() {
        acquired.append(&mut batch);
    }
    // One scan: the first sample of each tag.
    let mut seen = vec![false; generation.config.tags.registry.len()];
    acquired.retain(|s| !std::mem::replace(&mut seen[s.tag.0 as usize], true));

    let mut engines = EngineSet::build(&generation.config, None);
    let mut emitted = Emitter::with_texts(generation.texts.clone());
    engines.on_samples(&acquired, &mut emitted);
    engines.tick_all(clock.now(), &mut emitted);
    emitted.events.iter().for_each(log_event);
    acquired.extend(emitted.samples);

    let mut lines = String::new();
    let dict = crate::export::dictionary(&generation.config);
    for s in &acquired {
        if let Err(e) = crate::uplink::influxdb::write_live(&mut lines, &dict, &generation.texts, s) {
            let name = generation.config.tags.info[s.tag.0 as usize].name.as_str();
            eprintln!("tag {name}: not printable as line protocol: {e}");
        }
    }
    let _ = out.write_all(lines.as_bytes());

    let mut report = TestReport::default();
    for d in &generation.devices {
        if !answered(d) {
            eprintln!("device {}: no answer within {}", d.name, Span(timeout));
            report.devices_failed += 1;
        } else if let Some(e) = d.last_error().filter(|_| !d.is_up()) {
            eprintln!("device {}: {e}", d.name);
            report.devices_failed += 1;
        }
    }
    let info = &generation.config.tags.info;
    for s in &acquired {
        let tag = &info[s.tag.0 as usize];
        match s.quality {
            protocols::Quality::Good => report.good += 1,
            protocols::Quality::Uncertain(_) => report.uncertain += 1,
            protocols::Quality::Bad(reason) => {
                eprintln!("tag {} (device {}): bad: {reason}", tag.name, tag.device);
                report.bad += 1;
            }
        }
    }
    let acquiring: std::collections::HashSet<&str> =
        generation.devices.iter().map(|d| d.name.as_str()).collect();
    for (id, tag) in info.iter().enumerate() {
        if acquiring.contains(tag.device.as_str()) && !seen[id] {
            eprintln!("tag {} (device {}): no sample", tag.name, tag.device);
            report.missing += 1;
        }
    }
    report
}
