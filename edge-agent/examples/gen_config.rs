//! Prints a config with DEVICES simulated devices of TAGS tags each, for timing `edge-agent check` and
//! loading the runtime: `cargo run --release -p edge-agent --example gen_config -- 100 100 > big.toml`.

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let (Some(Ok(devices)), Some(Ok(tags))) = (args.next(), args.next()) else {
        eprintln!("usage: gen_config DEVICES TAGS_PER_DEVICE");
        std::process::exit(2);
    };
    let shapes = ["sine", "ramp", "step", "noise", "random_walk", "counter"];
    let mut out = String::from(
        "[agent]\nsite = \"bench\"\ngateway = \"gw\"\ndata_dir = \"./data\"\n\n[api]\nlisten = \"127.0.0.1:0\"\n",
    );
    for d in 0..devices {
        out.push_str(&format!(
            "\n[[sim.device]]\nname = \"dev{d:04}\"\nscan = \"1s\"\nseed = {d}\ntags = [\n"
        ));
        for t in 0..tags {
            let shape = shapes[(d + t) % shapes.len()];
            let bounds = if shape == "random_walk" { ", min = 0.0, max = 100.0" } else { "" };
            out.push_str(&format!(
                "  {{ name = \"dev{d:04}.t{t:04}\", shape = \"{shape}\", offset = 50.0, amplitude = 5.0{bounds} }},\n"
            ));
        }
        out.push_str("]\n");
        if d % 10 == 0 {
            out.push_str(&format!("\n[[alarm]]\ntag = \"dev{d:04}.t0000\"\nhigh = 90.0\ndeadband = 1.0\n"));
        }
    }
    print!("{out}");
}
