//! The vocabulary that crosses the wire: every type the JSON API, the server functions and the
//! SSE streams carry is defined here once, as plain serde types, and the server builds these
//! types directly. One file per subject.

pub mod alerts;
pub mod customers;
pub mod funnels;
pub mod health;
pub mod journeys;
pub mod live;
pub mod paths;
pub mod range;
pub mod retention;
pub mod rules;
pub mod settings;
pub mod steps;

pub use alerts::*;
pub use customers::*;
pub use funnels::*;
pub use health::*;
pub use journeys::*;
pub use live::*;
pub use paths::*;
pub use range::*;
pub use retention::*;
pub use rules::*;
pub use settings::*;
pub use steps::*;
