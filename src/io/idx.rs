//! Reader of IDX files (the MNIST format), gzip-compressed or raw.
//!
//! IDX layout: a big-endian `u32` magic (`0x00000803` for 3-D unsigned-byte images,
//! `0x00000801` for 1-D unsigned-byte labels), one big-endian `u32` per dimension
//! (`count`, then `rows`, `cols` for images), then the data bytes, row-major.
//!
//! Compression is detected by content (the gzip magic bytes `1f 8b`), never by the file name.
//! Every file is read through a size cap ([`MAX_DECODED_BYTES`]) and every header is checked
//! against the number of bytes actually present before anything is sized from it, so a
//! malformed, truncated or hostile file gives a [`SasError::Idx`] naming the file and the
//! problem — never a panic or a huge allocation.

use crate::error::{Result, SasError};
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Magic number of an IDX file of unsigned-byte images (3 dimensions).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned-byte labels (1 dimension).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Largest file content accepted, in bytes, after decompression (64 MiB; the MNIST training
/// images are 47,040,016 bytes). The compressed file size is capped at the same value.
pub const MAX_DECODED_BYTES: u64 = 64 << 20;
/// Largest label value accepted by [`read_labels`] (MNIST digits are 0–9).
pub const MAX_LABEL: u8 = 9;

/// The two leading bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A stack of grey-level images, as stored in an IDX image file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Images {
    /// Number of images.
    pub count: usize,
    /// Rows per image (28 for MNIST).
    pub rows: usize,
    /// Columns per image (28 for MNIST).
    pub cols: usize,
    /// Pixels `[count, rows * cols]`, row-major within each image; 0 = background, 255 = ink.
    pub pixels: Vec<u8>,
}

impl Images {
    /// Pixels per image, `rows * cols`.
    pub fn pixels_per_image(&self) -> usize {
        self.rows * self.cols
    }

    /// The pixels of image `i` (`rows * cols` bytes, row-major), or `None` if `i >= count`.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        let n = self.pixels_per_image();
        let start = i.checked_mul(n)?;
        self.pixels.get(start..start.checked_add(n)?)
    }
}

fn idx_err(path: &Path, reason: impl Into<String>) -> SasError {
    SasError::Idx {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reads the whole content of `path`, decompressing it if it is gzip (detected by the magic
/// bytes `1f 8b`), with at most `limit` bytes accepted both before and after decompression.
///
/// Errors: the file cannot be read ([`SasError::Io`]); it is larger than `limit`, or its gzip
/// stream is truncated, corrupt (bad deflate data, CRC or length) or decompresses to more than
/// `limit` bytes ([`SasError::Idx`]).
pub(crate) fn read_decoded(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let io = |source| SasError::Io {
        action: "reading",
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let mut raw = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut raw)
        .map_err(io)?;
    if raw.len() as u64 > limit {
        return Err(idx_err(
            path,
            format!("file is larger than the limit of {limit} bytes"),
        ));
    }
    decode(raw, path, limit)
}

/// Decompresses `raw` if it starts with the gzip magic bytes, else returns it unchanged.
/// `path` only names the source in errors; `limit` caps the decompressed size in bytes.
///
/// Concatenated gzip members are accepted (as gzip does); data after the last member that is
/// not a valid member is an error.
pub(crate) fn decode(raw: Vec<u8>, path: &Path, limit: u64) -> Result<Vec<u8>> {
    if !raw.starts_with(&GZIP_MAGIC) {
        if raw.len() as u64 > limit {
            return Err(idx_err(
                path,
                format!("file is larger than the limit of {limit} bytes"),
            ));
        }
        return Ok(raw);
    }
    let mut out = Vec::new();
    MultiGzDecoder::new(raw.as_slice())
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| idx_err(path, format!("corrupt or truncated gzip stream: {e}")))?;
    if out.len() as u64 > limit {
        return Err(idx_err(
            path,
            format!("gzip stream decompresses to more than the limit of {limit} bytes"),
        ));
    }
    Ok(out)
}

/// Reads big-endian `u32` number `i` of `data` (callers check the length first).
fn be_u32(data: &[u8], i: usize) -> Option<u32> {
    let b = data.get(4 * i..4 * i + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Describes a magic number for error messages.
fn describe_magic(m: u32) -> String {
    match m {
        IMAGES_MAGIC => format!("{m:#010x} (an image file)"),
        LABELS_MAGIC => format!("{m:#010x} (a label file)"),
        _ if m >> 16 == 0x1f8b => format!("{m:#010x} (looks like doubly gzip-compressed data)"),
        _ => format!("{m:#010x}"),
    }
}

/// Checks the magic number and the header length; returns the dimensions.
fn header(data: &[u8], path: &Path, magic: u32, what: &str) -> Result<Vec<u32>> {
    let dims = (magic & 0xff) as usize;
    let header_len = 4 * (1 + dims);
    if data.len() < 4 {
        return Err(idx_err(
            path,
            format!(
                "file holds {} bytes, too short for the 4-byte magic number",
                data.len()
            ),
        ));
    }
    let found = be_u32(data, 0).unwrap_or(0);
    if found != magic {
        return Err(idx_err(
            path,
            format!(
                "magic number is {}, expected {magic:#010x} for {what}",
                describe_magic(found)
            ),
        ));
    }
    if data.len() < header_len {
        return Err(idx_err(
            path,
            format!(
                "file holds {} bytes, too short for the {header_len}-byte header of {what}",
                data.len()
            ),
        ));
    }
    Ok((1..=dims).filter_map(|i| be_u32(data, i)).collect())
}

/// Checks that `data` holds exactly `header_len + payload` bytes.
fn check_length(data: &[u8], path: &Path, header_len: usize, payload: u64, declared: &str) -> Result<()> {
    let have = (data.len() - header_len) as u64;
    if have < payload {
        return Err(idx_err(
            path,
            format!(
                "header declares {declared} ({payload} data bytes) but only {have} bytes follow \
                 the header: the file is truncated"
            ),
        ));
    }
    if have > payload {
        return Err(idx_err(
            path,
            format!(
                "header declares {declared} ({payload} data bytes) but {have} bytes follow the \
                 header: {} bytes of trailing data",
                have - payload
            ),
        ));
    }
    Ok(())
}

/// Parses the (decompressed) content of an IDX image file. `path` only names it in errors.
///
/// Errors ([`SasError::Idx`]): wrong magic (not [`IMAGES_MAGIC`]), short header, zero rows or
/// columns, a size `count * rows * cols` that overflows or differs from the bytes present.
pub(crate) fn parse_images(mut data: Vec<u8>, path: &Path) -> Result<Images> {
    let d = header(&data, path, IMAGES_MAGIC, "images")?;
    let (count, rows, cols) = (u64::from(d[0]), u64::from(d[1]), u64::from(d[2]));
    if rows == 0 || cols == 0 {
        return Err(idx_err(
            path,
            format!("image size {rows}x{cols} has a zero dimension"),
        ));
    }
    let declared = format!("{count} images of {rows}x{cols} pixels");
    let payload = count
        .checked_mul(rows)
        .and_then(|v| v.checked_mul(cols))
        .filter(|&v| usize::try_from(v).is_ok())
        .ok_or_else(|| idx_err(path, format!("header declares {declared}: the size overflows")))?;
    check_length(&data, path, 16, payload, &declared)?;
    data.drain(..16);
    // All three fit in usize: each is at most the payload size, which does (checked above).
    Ok(Images {
        count: count as usize,
        rows: rows as usize,
        cols: cols as usize,
        pixels: data,
    })
}

/// Parses the (decompressed) content of an IDX label file. `path` only names it in errors.
///
/// Errors ([`SasError::Idx`]): wrong magic (not [`LABELS_MAGIC`]), short header, a count that
/// differs from the bytes present, a label above [`MAX_LABEL`].
pub(crate) fn parse_labels(data: &[u8], path: &Path) -> Result<Vec<u8>> {
    let d = header(data, path, LABELS_MAGIC, "labels")?;
    let count = u64::from(d[0]);
    check_length(data, path, 8, count, &format!("{count} labels"))?;
    let labels = &data[8..];
    if let Some((i, &v)) = labels.iter().enumerate().find(|&(_, &v)| v > MAX_LABEL) {
        return Err(idx_err(
            path,
            format!("label {i} is {v}, outside the digit range 0-{MAX_LABEL}"),
        ));
    }
    Ok(labels.to_vec())
}

/// Reads an IDX image file (gzip or raw) into [`Images`], pixels `[count, rows * cols]`.
///
/// Errors: see [`read_decoded`] and [`parse_images`]; all name `path`.
pub(crate) fn read_images(path: &Path) -> Result<Images> {
    parse_images(read_decoded(path, MAX_DECODED_BYTES)?, path)
}

/// Reads an IDX label file (gzip or raw): one label in `0..=9` per item.
///
/// Errors: see [`read_decoded`] and [`parse_labels`]; all name `path`.
pub(crate) fn read_labels(path: &Path) -> Result<Vec<u8>> {
    parse_labels(&read_decoded(path, MAX_DECODED_BYTES)?, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;
    use std::path::PathBuf;

    fn images_bytes(magic: u32, count: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        for x in [magic, count, rows, cols] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        v.extend_from_slice(pixels);
        v
    }

    fn labels_bytes(magic: u32, count: u32, labels: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        for x in [magic, count] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        v.extend_from_slice(labels);
        v
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// A fresh temporary directory for one test.
    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sasnet-idx-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn p() -> PathBuf {
        PathBuf::from("test-file")
    }

    fn idx_reason(r: Result<impl std::fmt::Debug>) -> String {
        match r {
            Err(SasError::Idx { path, reason }) => {
                assert_eq!(path, p());
                reason
            }
            other => panic!("expected an Idx error, got {other:?}"),
        }
    }

    fn sample_pixels() -> Vec<u8> {
        (0..2 * 3 * 4).map(|i| (i * 10) as u8).collect()
    }

    #[test]
    fn parses_images_and_labels() {
        let px = sample_pixels();
        let im = parse_images(images_bytes(IMAGES_MAGIC, 2, 3, 4, &px), &p()).unwrap();
        assert_eq!((im.count, im.rows, im.cols), (2, 3, 4));
        assert_eq!(im.pixels, px);
        assert_eq!(im.image(1).unwrap(), &px[12..24]);
        assert!(im.image(2).is_none());
        let l = parse_labels(&labels_bytes(LABELS_MAGIC, 3, &[0, 9, 5]), &p()).unwrap();
        assert_eq!(l, vec![0, 9, 5]);
        // Empty but well-formed files are fine.
        assert_eq!(
            parse_labels(&labels_bytes(LABELS_MAGIC, 0, &[]), &p()).unwrap(),
            Vec::<u8>::new()
        );
        assert_eq!(
            parse_images(images_bytes(IMAGES_MAGIC, 0, 28, 28, &[]), &p())
                .unwrap()
                .count,
            0
        );
    }

    #[test]
    fn reads_raw_and_gzip_files_by_content_not_name() {
        let d = tmp("rw");
        let px = sample_pixels();
        let raw = images_bytes(IMAGES_MAGIC, 2, 3, 4, &px);
        // Raw bytes under a .gz name and gzip bytes under a plain name both work.
        std::fs::write(d.join("a.gz"), &raw).unwrap();
        std::fs::write(d.join("b"), gzip(&raw)).unwrap();
        let a = read_images(&d.join("a.gz")).unwrap();
        let b = read_images(&d.join("b")).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.pixels, px);
        // Concatenated gzip members are one stream.
        let lab = labels_bytes(LABELS_MAGIC, 4, &[1, 2, 3, 4]);
        let mut two = gzip(&lab[..6]);
        two.extend_from_slice(&gzip(&lab[6..]));
        std::fs::write(d.join("c"), two).unwrap();
        assert_eq!(read_labels(&d.join("c")).unwrap(), vec![1, 2, 3, 4]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn rejects_wrong_magic() {
        let px = sample_pixels();
        let r = idx_reason(parse_images(labels_bytes(LABELS_MAGIC, 3, &[0, 1, 2]), &p()));
        assert!(r.contains("magic") && r.contains("label file"), "{r}");
        let r = idx_reason(parse_labels(&images_bytes(IMAGES_MAGIC, 2, 3, 4, &px), &p()));
        assert!(r.contains("magic") && r.contains("image file"), "{r}");
        let r = idx_reason(parse_images(images_bytes(0x0000_0D03, 2, 3, 4, &px), &p()));
        assert!(r.contains("0x00000d03"), "{r}");
        let r = idx_reason(parse_labels(b"\x1f\x8b\x08\x00\x00\x00\x00\x00", &p()));
        assert!(r.contains("gzip"), "{r}");
    }

    #[test]
    fn rejects_short_headers() {
        for n in 0..16 {
            let b = images_bytes(IMAGES_MAGIC, 0, 1, 1, &[]);
            let r = idx_reason(parse_images(b[..n].to_vec(), &p()));
            assert!(r.contains("too short"), "{n}: {r}");
        }
        for n in 0..8 {
            let b = labels_bytes(LABELS_MAGIC, 0, &[]);
            let r = idx_reason(parse_labels(&b[..n], &p()));
            assert!(r.contains("too short"), "{n}: {r}");
        }
    }

    #[test]
    fn rejects_truncated_and_trailing_data() {
        let px = sample_pixels();
        let r = idx_reason(parse_images(images_bytes(IMAGES_MAGIC, 3, 3, 4, &px), &p()));
        assert!(r.contains("truncated") && r.contains("3 images of 3x4"), "{r}");
        let r = idx_reason(parse_images(images_bytes(IMAGES_MAGIC, 1, 3, 4, &px), &p()));
        assert!(r.contains("12 bytes of trailing data"), "{r}");
        let r = idx_reason(parse_labels(&labels_bytes(LABELS_MAGIC, 4, &[1, 2, 3]), &p()));
        assert!(r.contains("truncated"), "{r}");
        let r = idx_reason(parse_labels(&labels_bytes(LABELS_MAGIC, 2, &[1, 2, 3]), &p()));
        assert!(r.contains("1 bytes of trailing data"), "{r}");
        // A huge declared count with a tiny file is an error, not a huge allocation.
        let r = idx_reason(parse_labels(&labels_bytes(LABELS_MAGIC, u32::MAX, &[1]), &p()));
        assert!(r.contains("truncated"), "{r}");
    }

    #[test]
    fn rejects_overflowing_and_zero_dimensions() {
        let m = u32::MAX;
        let r = idx_reason(parse_images(images_bytes(IMAGES_MAGIC, m, m, m, &[]), &p()));
        assert!(r.contains("overflows"), "{r}");
        let r = idx_reason(parse_images(images_bytes(IMAGES_MAGIC, m, m, 2, &[1]), &p()));
        assert!(r.contains("truncated") || r.contains("overflows"), "{r}");
        let r = idx_reason(parse_images(images_bytes(IMAGES_MAGIC, 5, 0, 28, &[]), &p()));
        assert!(r.contains("zero dimension"), "{r}");
    }

    #[test]
    fn rejects_labels_above_nine() {
        let r = idx_reason(parse_labels(&labels_bytes(LABELS_MAGIC, 3, &[1, 10, 2]), &p()));
        assert!(r.contains("label 1 is 10"), "{r}");
        let r = idx_reason(parse_labels(&labels_bytes(LABELS_MAGIC, 1, &[255]), &p()));
        assert!(r.contains("255"), "{r}");
    }

    #[test]
    fn rejects_truncated_and_corrupt_gzip() {
        let raw = labels_bytes(LABELS_MAGIC, 200, &[3; 200]);
        let gz = gzip(&raw);
        assert_eq!(decode(gz.clone(), &p(), MAX_DECODED_BYTES).unwrap(), raw);
        // Every truncation of the stream (header, deflate data, or CRC/size trailer) is caught.
        for n in 2..gz.len() {
            let r = idx_reason(decode(gz[..n].to_vec(), &p(), MAX_DECODED_BYTES));
            assert!(r.contains("gzip"), "{n}: {r}");
        }
        // A wrong CRC.
        let mut bad = gz.clone();
        let k = bad.len() - 8;
        bad[k] ^= 0xff;
        let r = idx_reason(decode(bad, &p(), MAX_DECODED_BYTES));
        assert!(r.contains("gzip"), "{r}");
        // A wrong length in the trailer.
        let mut bad = gz.clone();
        let k = bad.len() - 4;
        bad[k] ^= 0x01;
        idx_reason(decode(bad, &p(), MAX_DECODED_BYTES));
        // Garbage after the stream.
        let mut bad = gz.clone();
        bad.extend_from_slice(b"garbage!");
        idx_reason(decode(bad, &p(), MAX_DECODED_BYTES));
        // Garbage inside the deflate data: error or a different length/CRC, never a panic.
        for k in 10..gz.len() - 8 {
            let mut bad = gz.clone();
            bad[k] ^= 0x55;
            assert!(
                decode(bad, &p(), MAX_DECODED_BYTES).is_err(),
                "flip at {k} not detected"
            );
        }
    }

    #[test]
    fn caps_decompressed_size() {
        let big = vec![0u8; 100_000];
        let gz = gzip(&big);
        let r = idx_reason(decode(gz.clone(), &p(), 99_999));
        assert!(r.contains("more than the limit"), "{r}");
        assert_eq!(decode(gz, &p(), 100_000).unwrap().len(), 100_000);
        let r = idx_reason(decode(big, &p(), 1000));
        assert!(r.contains("larger than the limit"), "{r}");
        let d = tmp("cap");
        std::fs::write(d.join("f"), [7u8; 50]).unwrap();
        match read_decoded(&d.join("f"), 49) {
            Err(SasError::Idx { path, reason }) => {
                assert_eq!(path, d.join("f"));
                assert!(reason.contains("larger than the limit"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn missing_file_is_an_io_error_naming_it() {
        let path = std::env::temp_dir().join("sasnet-idx-surely-missing/none-idx1-ubyte");
        match read_labels(&path) {
            Err(e @ SasError::Io { .. }) => assert!(e.to_string().contains("none-idx1-ubyte"), "{e}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz: random and mutated headers, raw and gzip.
        let mut s = 1u64;
        let base = images_bytes(IMAGES_MAGIC, 2, 3, 4, &sample_pixels());
        for round in 0..2000 {
            let r = crate::rng::splitmix64(&mut s);
            let mut b = if round % 2 == 0 {
                base.clone()
            } else {
                labels_bytes(LABELS_MAGIC, 5, &[1, 2, 3, 4, 5])
            };
            let len = (r % 40) as usize;
            b.truncate(len.max(1));
            let k = (r >> 8) as usize % b.len();
            b[k] = (r >> 16) as u8;
            if round % 3 == 0 {
                b = gzip(&b);
                let k = (r >> 24) as usize % b.len();
                b[k] ^= (r >> 32) as u8;
            }
            let _ = decode(b.clone(), &p(), 1 << 20).and_then(|d| parse_images(d, &p()));
            let _ = decode(b, &p(), 1 << 20).and_then(|d| parse_labels(&d, &p()));
        }
    }
}
