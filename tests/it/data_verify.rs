//! Verification and loading of the real MNIST files, when they are present: `SASNET_DATA` if
//! set, else `../shared/data/mnist` next to the crate. Without them the test says so and passes.

use crate::common::mnist_dir;
use sasnet::data::files::verify;
use sasnet::task::mnist::{Mnist, SeqMnist, SeqVariant};

#[test]
fn real_mnist_verifies_and_loads() {
    let Some(dir) = mnist_dir() else { return };
    let checks = verify(&dir).unwrap();
    assert_eq!(checks.len(), 4);
    for c in &checks {
        eprintln!("{c}");
        assert!(c.is_ok(), "{c}");
    }
    let m = Mnist::load(&dir).unwrap();
    assert_eq!((m.train.count, m.train.rows, m.train.cols), (60_000, 28, 28));
    assert_eq!((m.test.count, m.test.rows, m.test.cols), (10_000, 28, 28));
    assert_eq!((m.train_labels.len(), m.test_labels.len()), (60_000, 10_000));
    assert_eq!(m.train_labels[..8], [5, 0, 4, 1, 9, 2, 1, 3]);
    assert_eq!(m.test_labels[..8], [7, 2, 1, 0, 4, 1, 4, 9]);
    // Every digit occurs; pixels span the full range.
    for d in 0..10u8 {
        assert!(m.train_labels.contains(&d) && m.test_labels.contains(&d));
    }
    assert_eq!(m.train.pixels.iter().max(), Some(&255));
    // A pixel-MNIST batch of real images.
    let s = SeqMnist::new(SeqVariant::Pixel);
    let b = s.batch(&m.train, &m.train_labels, &[0, 1]);
    assert_eq!((b.steps, b.size, b.inputs), (784, 2, 1));
    assert_eq!(b.one_hot()[5], 1.0);
    for t in 0..784 {
        assert_eq!(b.x[2 * t], f32::from(m.train.pixels[t]) / 255.0);
        assert_eq!(b.x[2 * t + 1], f32::from(m.train.pixels[784 + t]) / 255.0);
    }
}
