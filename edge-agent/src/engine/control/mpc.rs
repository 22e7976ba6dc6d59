//! `[[control.mpc]]`: model predictive control with a steady-state target layer.

pub mod controller;
pub mod model;
pub mod qp;
pub mod target;
