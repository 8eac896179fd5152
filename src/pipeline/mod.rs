//! The pipeline: what the command line runs end to end over the library — analyses with
//! their figures rendered ([`analyze`]), seed fan-out, reproductions of the paper's targets
//! ([`reproduce`], feed-forward ones in [`ff`]) and report pages.

pub mod analyze;
pub mod ff;
pub mod reproduce;
pub mod seeds;
pub mod steps;
