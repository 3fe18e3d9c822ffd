//! One module per page.

pub mod live;
pub mod not_found;
