//! podium's pure core: courses, timing, the race engine, standings and the ports adapters
//! implement. No I/O here: no database, HTTP, Redis or async runtime.

pub mod analytics;
pub mod corrections;
pub mod course;
pub mod division;
pub mod engine;
pub mod error;
pub mod fatigue;
pub mod field;
pub mod flags;
pub mod lineage;
pub mod live;
pub mod matching;
pub mod model;
pub mod ports;
pub mod prediction;
pub mod public_results;
pub mod records;
pub mod report;
pub mod simulation;
pub mod standings;
pub mod stats;
pub mod timing;
pub mod training;
pub mod training_simulation;
pub mod wellness;

pub use error::{check_text, InvalidInput};
