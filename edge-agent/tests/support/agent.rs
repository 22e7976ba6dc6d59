//! The shared test support of `hil-tests`, under the name the tests of this crate include it by.
#![allow(unused_imports, dead_code)]

pub use hil_tests::agent::*;

/// The binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_edge-agent");
