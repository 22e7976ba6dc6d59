//! The shared test support of `hil-tests`, under the name the tests of this crate include it by.
#![allow(unused_imports, dead_code)]

pub use hil_tests::historians::*;
