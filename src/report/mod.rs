//! Figures and the HTML report. Analyses describe their figures as data ([`figure::Figure`]);
//! this module renders them (SVG and PNG) and assembles the report page.

pub mod claims;
pub mod html;
pub mod render;
