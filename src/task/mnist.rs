//! Sequential MNIST: the four standard IDX files, and trials that feed an image to the network
//! one pixel ([`SeqVariant::Pixel`], [`SeqVariant::Permuted`]) or one row ([`SeqVariant::Row`])
//! per time step, scored by cross-entropy on the label at the last step.
//!
//! The data directory is given explicitly (`--data DIR`) or by the environment variable
//! `SASNET_DATA` ([`data_dir`]); nothing is looked up at a built-in path.

use crate::error::{Result, SasError};
use crate::io::idx::{Images, read_images, read_labels};
use crate::rng::splitmix64;
use crate::task::{TargetData, TrialBatch};
use std::path::{Path, PathBuf};

/// Image side in pixels (MNIST images are `SIDE x SIDE`).
pub const SIDE: usize = 28;
/// Pixels per image, `SIDE * SIDE` = 784.
pub const PIXELS: usize = SIDE * SIDE;
/// Number of classes (digits 0–9).
pub const CLASSES: usize = 10;
/// Environment variable naming the MNIST directory when no directory argument is given.
pub const DATA_ENV: &str = "SASNET_DATA";

/// Base name of the training images file (60,000 images); `.gz` may follow.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
/// Base name of the training labels file (60,000 labels); `.gz` may follow.
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
/// Base name of the test images file (10,000 images); `.gz` may follow.
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
/// Base name of the test labels file (10,000 labels); `.gz` may follow.
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";
/// The four base names, in the order train images, train labels, test images, test labels.
pub const FILES: [&str; 4] = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS];

/// The file for base name `name` in `dir`: `dir/name` (raw) if it is a file, else
/// `dir/name.gz` if that is a file, else `None`. The content decides compression when read.
pub(crate) fn locate(dir: &Path, name: &str) -> Option<PathBuf> {
    let raw = dir.join(name);
    if raw.is_file() {
        return Some(raw);
    }
    let gz = dir.join(format!("{name}.gz"));
    gz.is_file().then_some(gz)
}

/// The MNIST data set, as read from its four IDX files.
#[derive(Clone, Debug, PartialEq)]
pub struct Mnist {
    /// Training images (60,000 of 28 x 28 in the standard set).
    pub train: Images,
    /// Training labels, one per training image, each in `0..=9`.
    pub train_labels: Vec<u8>,
    /// Test images (10,000 of 28 x 28 in the standard set).
    pub test: Images,
    /// Test labels, one per test image, each in `0..=9`.
    pub test_labels: Vec<u8>,
}

fn data_err(dir: &Path, reason: String) -> SasError {
    SasError::Data {
        path: dir.to_path_buf(),
        reason,
    }
}

impl Mnist {
    /// Reads the four standard files from `dir` (each raw or gzip; a raw file is preferred when
    /// both exist) and checks them: 28 x 28 images, as many labels as images.
    ///
    /// Errors: [`SasError::Data`] naming `dir` when it is not a directory, a file is missing,
    /// images are not 28 x 28 or the counts disagree; the errors of
    /// [`read_images`]/[`read_labels`] for malformed files.
    pub fn load(dir: &Path) -> Result<Mnist> {
        if !dir.is_dir() {
            let what = if dir.exists() {
                "is not a directory"
            } else {
                "directory does not exist"
            };
            return Err(data_err(
                dir,
                format!("{what} (give the MNIST directory with --data DIR or {DATA_ENV})"),
            ));
        }
        let find = |name: &str| {
            locate(dir, name).ok_or_else(|| {
                data_err(
                    dir,
                    format!("missing {name} (or {name}.gz); the `data fetch` command downloads it"),
                )
            })
        };
        let paths = [
            find(TRAIN_IMAGES)?,
            find(TRAIN_LABELS)?,
            find(TEST_IMAGES)?,
            find(TEST_LABELS)?,
        ];
        let split = |images: &Path, labels: &Path| -> Result<(Images, Vec<u8>)> {
            let im = read_images(images)?;
            if (im.rows, im.cols) != (SIDE, SIDE) {
                return Err(data_err(
                    images,
                    format!("images are {}x{}, expected {SIDE}x{SIDE}", im.rows, im.cols),
                ));
            }
            let lab = read_labels(labels)?;
            if lab.len() != im.count {
                return Err(data_err(
                    dir,
                    format!(
                        "{} holds {} images but {} holds {} labels",
                        images.display(),
                        im.count,
                        labels.display(),
                        lab.len()
                    ),
                ));
            }
            Ok((im, lab))
        };
        let (train, train_labels) = split(&paths[0], &paths[1])?;
        let (test, test_labels) = split(&paths[2], &paths[3])?;
        Ok(Mnist {
            train,
            train_labels,
            test,
            test_labels,
        })
    }
}

/// How an image is turned into a sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SeqVariant {
    /// One pixel per step in row-major order: T = 784 steps, I = 1 input.
    Pixel,
    /// One row per step: T = 28 steps, I = 28 inputs (the row's pixels, left to right).
    Row,
    /// One pixel per step in a fixed order, the permutation [`permutation`]`(784, seed)`:
    /// T = 784, I = 1.
    Permuted {
        /// Seed of the pixel permutation.
        seed: u64,
    },
}

impl std::fmt::Display for SeqVariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SeqVariant::Pixel => write!(f, "pixel"),
            SeqVariant::Row => write!(f, "row"),
            SeqVariant::Permuted { seed } => write!(f, "permuted (seed {seed})"),
        }
    }
}

/// A permutation of `0..n`, fixed by `seed`: the Fisher–Yates shuffle of the identity that,
/// for `i = n-1` down to 1, swaps position `i` with position `j = (r * (i + 1)) >> 64`, where
/// `r` is the next output of [`splitmix64`] on the state `seed` (the state starts at `seed`).
///
/// This exact recipe is part of the format: a given seed gives the same permutation on every
/// machine and in every version (tests pin its first values).
pub(crate) fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    let mut state = seed;
    for i in (1..n).rev() {
        let r = u128::from(splitmix64(&mut state));
        let j = ((r * (i as u128 + 1)) >> 64) as usize;
        p.swap(i, j);
    }
    p
}

/// Sequential-MNIST trial maker for one [`SeqVariant`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeqMnist {
    variant: SeqVariant,
    perm: Vec<usize>,
}

impl SeqMnist {
    /// The trial maker for `variant`; for [`SeqVariant::Permuted`] it draws the pixel order
    /// [`permutation`]`(784, seed)` (for the other variants the order is the identity).
    pub fn new(variant: SeqVariant) -> SeqMnist {
        let perm = match variant {
            SeqVariant::Permuted { seed } => permutation(PIXELS, seed),
            SeqVariant::Pixel | SeqVariant::Row => (0..PIXELS).collect(),
        };
        SeqMnist { variant, perm }
    }

    /// The variant.
    pub fn variant(&self) -> SeqVariant {
        self.variant
    }

    /// The pixel order, 784 row-major pixel indices: step `t` of a pixel sequence shows pixel
    /// `perm()[t]`. The identity for [`SeqVariant::Pixel`] and [`SeqVariant::Row`].
    pub fn perm(&self) -> &[usize] {
        &self.perm
    }

    /// Time steps T per trial: 784 (pixel, permuted) or 28 (row).
    pub fn steps(&self) -> usize {
        match self.variant {
            SeqVariant::Row => SIDE,
            SeqVariant::Pixel | SeqVariant::Permuted { .. } => PIXELS,
        }
    }

    /// Input channels I: 1 (pixel, permuted) or 28 (row).
    pub fn inputs(&self) -> usize {
        match self.variant {
            SeqVariant::Row => SIDE,
            SeqVariant::Pixel | SeqVariant::Permuted { .. } => 1,
        }
    }

    /// Outputs K = 10 (one per digit).
    pub fn outputs(&self) -> usize {
        CLASSES
    }

    /// The batch of the images `idx` (indices into `images`, in batch order; B = `idx.len()`).
    ///
    /// `x` is `[T, B, I]` with pixel values / 255 (in `[0, 1]`), `x[(t*B + b)*I + i]`:
    /// pixel and permuted variants `x[t, b, 0] = img_b[perm[t]] / 255`; row variant
    /// `x[t, b, i] = img_b[t*28 + i] / 255`. Targets are [`TargetData::Labels`] (the labels of
    /// the chosen images), outputs K = 10. No baseline or noise is added.
    ///
    /// # Panics
    /// If `images` are not 28 x 28, `labels.len() != images.count`, an index is out of range,
    /// or a label is above 9. Images and labels from [`Mnist::load`] satisfy all of these.
    pub fn batch(&self, images: &Images, labels: &[u8], idx: &[usize]) -> TrialBatch {
        assert_eq!(
            (images.rows, images.cols),
            (SIDE, SIDE),
            "sequential MNIST needs 28x28 images"
        );
        assert_eq!(labels.len(), images.count, "one label per image");
        let (t_steps, inputs, b_size) = (self.steps(), self.inputs(), idx.len());
        let mut x = vec![0f32; t_steps * b_size * inputs];
        let mut target = Vec::with_capacity(b_size);
        for (b, &n) in idx.iter().enumerate() {
            let img = images
                .image(n)
                .unwrap_or_else(|| panic!("image index {n} out of range ({} images)", images.count));
            let label = labels[n];
            assert!(
                usize::from(label) < CLASSES,
                "label {label} of image {n} is not a digit"
            );
            target.push(usize::from(label));
            match self.variant {
                SeqVariant::Row => {
                    for t in 0..SIDE {
                        let dst = &mut x[(t * b_size + b) * SIDE..][..SIDE];
                        for (d, &p) in dst.iter_mut().zip(&img[t * SIDE..][..SIDE]) {
                            *d = f32::from(p) / 255.0;
                        }
                    }
                }
                SeqVariant::Pixel | SeqVariant::Permuted { .. } => {
                    for (t, &src) in self.perm.iter().enumerate() {
                        x[t * b_size + b] = f32::from(img[src]) / 255.0;
                    }
                }
            }
        }
        TrialBatch {
            steps: t_steps,
            size: b_size,
            inputs,
            outputs: CLASSES,
            x,
            target: TargetData::Labels(target),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three synthetic 28x28 images: image n has pixel p = (7n + 3p) mod 256.
    fn tiny() -> (Images, Vec<u8>) {
        let count = 3;
        let pixels = (0..count * PIXELS)
            .map(|k| ((k / PIXELS) * 7 + 3 * (k % PIXELS)) as u8)
            .collect();
        let im = Images {
            count,
            rows: SIDE,
            cols: SIDE,
            pixels,
        };
        (im, vec![4, 0, 9])
    }

    fn px(n: usize, p: usize) -> f32 {
        f32::from(((n * 7 + 3 * p) % 256) as u8) / 255.0
    }

    #[test]
    fn pixel_batch_shapes_and_values() {
        let (im, lab) = tiny();
        let s = SeqMnist::new(SeqVariant::Pixel);
        assert_eq!((s.steps(), s.inputs(), s.outputs()), (784, 1, 10));
        let idx = [2, 0];
        let b = s.batch(&im, &lab, &idx);
        assert_eq!((b.steps, b.size, b.inputs, b.outputs), (784, 2, 1, 10));
        assert_eq!(b.x.len(), 784 * 2);
        assert_eq!(b.target, TargetData::Labels(vec![9, 4]));
        for t in 0..784 {
            for (bi, &n) in idx.iter().enumerate() {
                assert_eq!(b.x[t * 2 + bi], px(n, t), "t={t} b={bi}");
            }
        }
        assert_eq!(b.x[0], 14.0 / 255.0);
        assert!(b.x.iter().all(|&v| (0.0..=1.0).contains(&v)));
        assert_eq!(f32::from(255u8) / 255.0, 1.0);
    }

    #[test]
    fn row_batch_shapes_and_values() {
        let (im, lab) = tiny();
        let s = SeqMnist::new(SeqVariant::Row);
        assert_eq!((s.steps(), s.inputs(), s.outputs()), (28, 28, 10));
        let idx = [1, 1, 2];
        let b = s.batch(&im, &lab, &idx);
        assert_eq!((b.steps, b.size, b.inputs, b.outputs), (28, 3, 28, 10));
        assert_eq!(b.x.len(), 28 * 3 * 28);
        assert_eq!(b.target, TargetData::Labels(vec![0, 0, 9]));
        for t in 0..28 {
            for (bi, &n) in idx.iter().enumerate() {
                for i in 0..28 {
                    assert_eq!(b.x[(t * 3 + bi) * 28 + i], px(n, t * 28 + i));
                }
            }
        }
        assert_eq!(
            b.one_hot()[..10],
            [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
    }

    #[test]
    fn permuted_batch_follows_the_permutation() {
        let (im, lab) = tiny();
        let s = SeqMnist::new(SeqVariant::Permuted { seed: 11 });
        assert_eq!((s.steps(), s.inputs()), (784, 1));
        let b = s.batch(&im, &lab, &[1]);
        for t in 0..784 {
            assert_eq!(b.x[t], px(1, s.perm()[t]));
        }
        let empty = s.batch(&im, &lab, &[]);
        assert_eq!((empty.size, empty.x.len()), (0, 0));
    }

    #[test]
    fn permutation_is_a_fixed_seeded_permutation() {
        let a = permutation(PIXELS, 1);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..PIXELS).collect::<Vec<_>>());
        assert_eq!(a, permutation(PIXELS, 1));
        assert_ne!(a, permutation(PIXELS, 2));
        assert_ne!(a, (0..PIXELS).collect::<Vec<_>>());
        assert_eq!(SeqMnist::new(SeqVariant::Permuted { seed: 1 }).perm(), &a[..]);
        assert_eq!(SeqMnist::new(SeqVariant::Pixel).perm(), &sorted[..]);
        // Golden values: the recipe is part of the format.
        assert_eq!(permutation(PIXELS, 0)[..8], GOLDEN_SEED0);
        assert_eq!(permutation(5, 42), GOLDEN_5_42);
        assert_eq!(permutation(0, 3), Vec::<usize>::new());
        assert_eq!(permutation(1, 3), vec![0]);
    }

    /// First values of `permutation(784, 0)`, checked against an independent Python transcription.
    const GOLDEN_SEED0: [usize; 8] = [55, 536, 435, 491, 452, 534, 561, 489];
    /// `permutation(5, 42)`, from the same transcription.
    const GOLDEN_5_42: [usize; 5] = [1, 2, 4, 0, 3];

    #[test]
    #[should_panic(expected = "out of range")]
    fn batch_panics_on_bad_index() {
        let (im, lab) = tiny();
        SeqMnist::new(SeqVariant::Pixel).batch(&im, &lab, &[3]);
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sasnet-mnist-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = magic.to_be_bytes().to_vec();
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    fn write_set(d: &Path, n_train: u32, n_train_labels: u32) {
        let im = |n: u32| idx(0x803, &[n, 28, 28], &vec![9u8; n as usize * PIXELS]);
        let lab = |n: u32| idx(0x801, &[n], &vec![3u8; n as usize]);
        std::fs::write(d.join(TRAIN_IMAGES), im(n_train)).unwrap();
        std::fs::write(d.join(TRAIN_LABELS), lab(n_train_labels)).unwrap();
        std::fs::write(d.join(TEST_IMAGES), im(1)).unwrap();
        std::fs::write(d.join(TEST_LABELS), lab(1)).unwrap();
    }

    fn data_reason(r: Result<Mnist>) -> (PathBuf, String) {
        match r {
            Err(SasError::Data { path, reason }) => (path, reason),
            other => panic!("expected a Data error, got {other:?}"),
        }
    }

    #[test]
    fn load_reads_a_synthetic_set_and_prefers_raw() {
        let d = tmp("load");
        write_set(&d, 2, 2);
        // A corrupt .gz next to a raw file is ignored: raw wins.
        std::fs::write(d.join(format!("{TRAIN_IMAGES}.gz")), b"\x1f\x8bjunk").unwrap();
        let m = Mnist::load(&d).unwrap();
        assert_eq!((m.train.count, m.test.count), (2, 1));
        assert_eq!(m.train_labels, vec![3, 3]);
        // Without the raw file the .gz is used, and its corruption reported.
        std::fs::remove_file(d.join(TRAIN_IMAGES)).unwrap();
        match Mnist::load(&d) {
            Err(SasError::Idx { path, .. }) => assert_eq!(path, d.join(format!("{TRAIN_IMAGES}.gz"))),
            other => panic!("{other:?}"),
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn load_reports_missing_files_and_count_mismatch() {
        let d = tmp("bad");
        let (path, reason) = data_reason(Mnist::load(&d.join("nope")));
        assert_eq!(path, d.join("nope"));
        assert!(reason.contains("does not exist"), "{reason}");
        write_set(&d, 2, 3);
        let (path, reason) = data_reason(Mnist::load(&d));
        assert_eq!(path, d);
        assert!(
            reason.contains("2 images") && reason.contains("3 labels"),
            "{reason}"
        );
        std::fs::remove_file(d.join(TEST_LABELS)).unwrap();
        let (path, reason) = data_reason(Mnist::load(&d));
        assert_eq!(path, d);
        assert!(reason.contains("missing t10k-labels-idx1-ubyte"), "{reason}");
        std::fs::write(d.join(TEST_LABELS), idx(0x801, &[1], &[1])).unwrap();
        std::fs::write(d.join(TEST_IMAGES), idx(0x803, &[1, 2, 392], &[0; 784])).unwrap();
        std::fs::write(d.join(TRAIN_LABELS), idx(0x801, &[2], &[1, 2])).unwrap();
        let (path, reason) = data_reason(Mnist::load(&d));
        assert_eq!(path, d.join(TEST_IMAGES));
        assert!(reason.contains("2x392"), "{reason}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
