//! Sessions for supervisors: the state dir, the per-session lock and the
//! registry of live launches.

mod lock;
mod procfs;
mod registry;
mod state;

pub use lock::Lock;
pub use registry::{Record, find, live, register, session_of_launch};
pub use state::State;
