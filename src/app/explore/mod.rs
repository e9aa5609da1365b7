//! `liqsim explore`: the window explorer. A local web app (an HTTP server in the binary, a JSON API
//! and one embedded page) showing every tracked position and its health factor at any point of a
//! window, with a "liquidate here" what-if executed in revm at exactly that point.
//!
//! * [`state`]: the opening replay with checkpoints every K blocks, and any point from the nearest
//!   checkpoint plus a short replay.
//! * [`view`]: positions at a point and the what-if, with history and the run's strategies.
//! * [`run_outputs`]: a run's Parquet outputs (`--run out/<name>`).
//! * [`server`]: the HTTP server and its API.

pub mod run_outputs;
pub mod server;
pub mod state;
pub mod view;
