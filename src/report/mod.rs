//! Rendering: figures described as data (`output::figure`) drawn as SVG and PNG
//! ([`render`]), and the self-contained HTML report page ([`html`]) around the analyses'
//! outputs, their claims (`analysis::claims`) and the runs' settings. Nothing here computes a
//! result.

pub mod html;
pub mod render;
