//! Checkpoints: parameters (docs/MODEL.md §8 names), optimizer state and the epoch counter, in one
//! safetensors file written atomically. All random streams of a run are keyed by
//! (seed, epoch, minibatch), so the epoch counter is the whole RNG state: a resumed run
//! equals an uninterrupted one bit for bit.

use super::{files, io_err, meta_num};
use crate::config::Config;
use crate::config::Settings as _;
use crate::error::{Result, SasError};
use crate::io::tensors::{TensorFile, TensorWriter};
use crate::net::SasNet;
use crate::optim::Optimizer;
use std::path::Path;

/// Checkpoint format version written to the metadata.
pub const FORMAT: &str = "sasnet-checkpoint-1";

/// Writes the parameters of `net` (`<layer>.<m|pi|xi>`, row = receiving unit) into `w`,
/// with `stochastic` metadata.
pub(crate) fn write_params(w: &mut TensorWriter, net: &SasNet<f32>) {
    crate::sas::write_layers(w, net);
    w.meta(
        "stochastic",
        net.stochastic
            .iter()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join(","),
    );
}

/// Reads parameters written by [`write_params`]; shapes come from the file and are checked
/// for consistency (`rec` square, `in` and `out` matching it).
pub(crate) fn read_params(f: &TensorFile) -> Result<SasNet<f32>> {
    let shape2 = |name: &str| -> Result<[usize; 2]> {
        let s = f.shape(name)?;
        if s.len() != 2 {
            return Err(SasError::InvalidTensor {
                name: name.into(),
                reason: format!("has shape {s:?}, expected a matrix"),
            });
        }
        Ok([s[0], s[1]])
    };
    let [n, n2] = shape2("rec.m")?;
    let [n3, i] = shape2("in.m")?;
    let [k, n4] = shape2("out.m")?;
    if n != n2 || n3 != n || n4 != n {
        return Err(SasError::Shape {
            name: "in.m/rec.m/out.m".into(),
            got: vec![n3, i, n, n2, k, n4],
            expected: vec![n, i, n, n, k, n],
        });
    }
    let layer = |name: &str, rows: usize, cols: usize| crate::sas::read_layer::<f32>(f, name, rows, cols);
    let st = f
        .metadata()
        .get("stochastic")
        .map(String::as_str)
        .unwrap_or("true,true,true");
    let flags: Vec<bool> = st.split(',').map(|s| s.trim() == "true").collect();
    if flags.len() != 3 {
        return Err(SasError::Metadata {
            key: "stochastic".into(),
            path: f.path().to_path_buf(),
            reason: format!("`{st}` is not three booleans"),
        });
    }
    let net = SasNet {
        inp: layer("in", n, i)?,
        rec: layer("rec", n, n)?,
        out: layer("out", k, n)?,
        stochastic: [flags[0], flags[1], flags[2]],
    };
    net.validate()?;
    Ok(net)
}

/// Everything needed to resume.
pub struct Checkpoint {
    /// The network.
    pub net: SasNet<f32>,
    /// The optimizer state (needs the config to be rebuilt).
    pub optim: Optimizer,
    /// Completed epochs.
    pub epoch: usize,
    /// Wall time spent so far, seconds.
    pub wall_s: f64,
}

/// Reads a checkpoint written by [`crate::run::write_checkpoint`] for configuration `cfg`.
pub fn load(path: &Path, cfg: &Config) -> Result<Checkpoint> {
    let f = TensorFile::open(path)?;
    super::resume::check_family(&f, FORMAT)?;
    from_file(&f, cfg)
}

/// The checkpoint in `f` (format already checked) for configuration `cfg`.
pub(crate) fn from_file(f: &TensorFile, cfg: &Config) -> Result<Checkpoint> {
    let net = read_params(f)?;
    let mut optim = Optimizer::new(&cfg.optim, &net);
    optim.load(f, &net)?;
    Ok(Checkpoint {
        net,
        optim,
        epoch: meta_num(f, "epoch")?,
        wall_s: meta_num(f, "wall_s")?,
    })
}

/// Loads the configuration and network of a run directory.
/// `config.toml` must equal the configuration stored in the checkpoint (except
/// `train.epochs`), else the error names the key that differs.
pub fn load_run(run_dir: &Path) -> Result<(Config, SasNet<f32>, usize)> {
    load_run_from(run_dir, &TensorFile::open(&run_dir.join(files::CHECKPOINT))?)
}

/// [`load_run`] with the run's checkpoint `f` already opened.
pub(crate) fn load_run_from(run_dir: &Path, f: &TensorFile) -> Result<(Config, SasNet<f32>, usize)> {
    let cfg_path = run_dir.join(files::CONFIG);
    super::resume::check_family(f, FORMAT)?;
    let canon = |t: &str, s: &str| Ok(Config::from_toml(t, s)?.to_toml());
    super::resume::check_stored_config(f, run_dir, &canon)?;
    let text = std::fs::read_to_string(&cfg_path).map_err(io_err("reading", &cfg_path))?;
    let cfg = Config::from_toml(&text, &cfg_path.display().to_string())?;
    let ck = from_file(f, &cfg)?;
    Ok((cfg, ck.net, ck.epoch))
}
