//! Reference models the property tests and the fuzz targets compare the
//! real agent and the real manager decisions against.

pub mod agent;
pub mod manager;
