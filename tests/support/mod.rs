pub mod client;
pub mod layout;
pub mod mock_api;
pub mod modes;
pub mod procs;
pub mod wait;
