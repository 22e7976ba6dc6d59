//! Plants the control tests share: the kiln of the demo config.

use protocols::Timestamp;

pub const T0: Timestamp = Timestamp(1_700_000_000_000_000_000);

/// The kiln plant and one loop on it; `loop_keys` go into `[[control.pid]]`.
pub fn kiln(loop_keys: &str) -> String {
    format!(
        r#"
[[sim.device]]
name = "kiln"
scan = "1s"
tags = [
  {{ name = "kiln.fuel_valve", shape = "constant", offset = 40.0, writable = {{ min = 0.0, max = 100.0 }} }},
  {{ name = "kiln.temp", shape = "fopdt", input = "kiln.fuel_valve", gain = 21.0, offset = 25.0, time_constant = "2m", dead_time = "10s" }},
]

[[control.pid]]
name = "kiln-temp"
pv = "kiln.temp"
output = "kiln.fuel_valve"
{loop_keys}
"#
    )
}

/// SIMC PI for the kiln with τc = θ (Skogestad 2003): Kc = τ / (k·(τc + θ)) = 120 / (21·20), τI =
/// min(τ, 4·(τc + θ)) = 80 s.
pub const SIMC: &str = r#"tuning = { gain = 0.2857, integral = "80s" }"#;
