//! One module per page.

pub mod alerts;
pub mod customer;
pub mod funnels;
pub mod health;
pub mod journey_map;
pub mod live;
pub mod not_found;
pub mod paths;
pub mod retention;
pub mod rules;
pub mod settings;
pub mod sign_in;
