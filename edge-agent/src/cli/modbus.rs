//! `edge-agent modbus read`: one read from a device, printed raw and decoded, so an engineer can find
//! the unit, address, type and byte order before writing them into the config.

use std::fmt::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use drivers::modbus::config::{Parity, SerialSettings};
use drivers::modbus::{Answer, Connection, Transport};
use drivers::units::Span;
use protocols::modbus::pdu::Request;
use protocols::modbus::{Address, Base, ByteOrder, DataType, TagCodec};

#[derive(Args, Debug)]
pub struct ReadArgs {
    /// Device or gateway, host:port; or the serial port with --transport rtu.
    #[arg(long)]
    pub address: String,
    /// Serial line (rtu): baud rate and parity (none, even, odd).
    #[arg(long, default_value_t = 19_200)]
    pub baud: u32,
    #[arg(long, default_value = "even")]
    pub parity: String,
    #[arg(long, default_value_t = 1)]
    pub unit: u8,
    /// What to read: "holding:3054", "input:0", "coil:12", "discrete:3" or 40001-style.
    #[arg(long)]
    pub register: String,
    /// Values to read one after the other.
    #[arg(long, default_value_t = 1)]
    pub count: u16,
    /// u16, i16, u32, i32, u64, i64, f32, f64, bool, or string:N (N registers).
    #[arg(long = "type", default_value = "u16")]
    pub ty: String,
    /// ABCD, CDAB, BADC or DCBA; left out, every order is shown.
    #[arg(long)]
    pub order: Option<String>,
    /// Register numbers of the manual start at 0 or 1.
    #[arg(long, default_value_t = 0)]
    pub base: u8,
    #[arg(long, value_enum, default_value = "tcp")]
    pub transport: TransportArg,
    #[arg(long, default_value = "1s")]
    pub timeout: Span,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum TransportArg {
    Tcp,
    RtuOverTcp,
    Rtu,
}

pub async fn read(args: ReadArgs) -> ExitCode {
    match run(&args).await {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(a: &ReadArgs) -> Result<String, String> {
    let base = if a.base == 1 { Base::One } else { Base::Zero };
    let address =
        Address::parse(&a.register, base).map_err(|e| format!("--register {:?}: {e}", a.register))?;
    let ty = match a.ty.split_once(':') {
        Some(("string", n)) => {
            DataType::Text(n.parse().map_err(|_| "--type string:N, N registers".to_string())?)
        }
        _ if address.space.is_bits() => DataType::Bool,
        _ => a.ty.parse().map_err(|_| {
            format!("--type {:?}: u16, i16, u32, i32, u64, i64, f32, f64, bool or string:N", a.ty)
        })?,
    };
    let orders: Vec<ByteOrder> = match &a.order {
        Some(o) => vec![o.parse().map_err(|_| format!("--order {o:?}: ABCD, CDAB, BADC or DCBA"))?],
        None => ByteOrder::ALL.to_vec(),
    };
    let width = ty.registers();
    let count = width.checked_mul(a.count).ok_or("--count too large")?;
    let transport = match a.transport {
        TransportArg::Tcp => Transport::Tcp,
        TransportArg::RtuOverTcp => Transport::RtuOverTcp,
        TransportArg::Rtu => Transport::Rtu,
    };
    let parity = match a.parity.as_str() {
        "none" => Parity::None,
        "even" => Parity::Even,
        "odd" => Parity::Odd,
        other => return Err(format!("--parity {other:?}: none, even or odd")),
    };
    let stop_bits = if parity == Parity::None { 2 } else { 1 };
    let mut conn = Connection::new(transport, &a.address, a.timeout.get()).with_serial(SerialSettings {
        baud: a.baud,
        parity,
        stop_bits,
    });
    let req = Request::Read { space: address.space, start: address.wire, count };
    let started = std::time::Instant::now();
    let answer = match conn.request(a.unit, &req).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(exception)) => return Err(format!("unit {} refused the read: {exception}", a.unit)),
        Err(e) => return Err(format!("{}: {e}", a.address)),
    };
    let took = started.elapsed();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "unit {} {} {}..{} answered in {:.1} ms",
        a.unit,
        address.space,
        address.wire,
        address.wire as u32 + count as u32,
        ms(took)
    );
    let regs: Vec<u16> = match answer {
        Answer::Registers(r) => r,
        Answer::Bits(b) => b.into_iter().map(u16::from).collect(),
        Answer::Written => Vec::new(),
    };
    let raw: Vec<String> = regs.iter().map(|r| format!("{r:04x}")).collect();
    let _ = writeln!(out, "raw: {}", raw.join(" "));
    for (i, chunk) in regs.chunks(width as usize).enumerate() {
        let mut line = format!("[{}] {}", address.wire as usize + i * width as usize, ty.name());
        for &order in &orders {
            let codec = TagCodec::new(ty, order).map_err(|e| e.to_string())?;
            let shown = match ty {
                DataType::Text(_) => {
                    let mut buf = [0u8; 512];
                    codec.decode_text(chunk, &mut buf).map(|s| format!("{s:?}")).map_err(|e| e.to_string())
                }
                _ => codec.decode(chunk).map(shown_value).map_err(|e| e.to_string()),
            };
            let _ = write!(line, "  {order}: {}", shown.unwrap_or_else(|e| format!("({e})")));
        }
        let _ = writeln!(out, "{line}");
    }
    Ok(out)
}

fn shown_value(v: protocols::Value) -> String {
    match v {
        // The wrong orders give absurd magnitudes: keep them short so the plausible one stands out.
        protocols::Value::Float(f) if f == 0.0 || (1e-4..1e15).contains(&f.abs()) => f.to_string(),
        protocols::Value::Float(f) => format!("{f:e}"),
        protocols::Value::Int(i) => i.to_string(),
        protocols::Value::UInt(u) => u.to_string(),
        protocols::Value::Bool(b) => b.to_string(),
        protocols::Value::Text(_) => "(text)".into(),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
