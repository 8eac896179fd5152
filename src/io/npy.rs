//! The `.npy` array format (NumPy's): a parser for format versions 1–3, C order,
//! little-endian `<f4`, `<f8`, `<i8`, `<i4` and `|u1`. It rejects Fortran order, big-endian
//! data, object and structured arrays, and checks the header's size against the bytes before
//! allocating anything. Errors are plain messages; the caller names the file.

/// Little-endian decoding of fixed-size elements.
pub(crate) fn le<const N: usize, T>(data: &[u8], f: fn([u8; N]) -> T) -> Vec<T> {
    data.chunks_exact(N)
        .map(|c| f(c.try_into().expect("chunk of N bytes")))
        .collect()
}

/// Elements of a tensor in one of the supported dtypes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Elems {
    /// `<f4` / F32.
    F32(Vec<f32>),
    /// `<f8` / F64.
    F64(Vec<f64>),
    /// `<i8` / I64.
    I64(Vec<i64>),
    /// `<i4` / I32.
    I32(Vec<i32>),
    /// `|u1` / U8.
    U8(Vec<u8>),
}

impl Elems {
    pub(crate) fn dtype(&self) -> &'static str {
        match self {
            Elems::F32(_) => "f32",
            Elems::F64(_) => "f64",
            Elems::I64(_) => "i64",
            Elems::I32(_) => "i32",
            Elems::U8(_) => "u8",
        }
    }
}

/// A parsed `.npy` array.
#[derive(Debug, PartialEq)]
pub(crate) struct Npy {
    /// The array shape.
    pub(crate) shape: Vec<usize>,
    /// The elements, C order.
    pub(crate) data: Elems,
}

/// Parses a `.npy` file (format 1.0–3.0) held in `bytes`. Errors are plain messages.
pub(crate) fn parse_npy(bytes: &[u8]) -> std::result::Result<Npy, String> {
    let (descr, shape, end) = parse_head(bytes, bytes.len())?;
    let data = &bytes[end..];
    let data = match descr.as_str() {
        "<f4" => Elems::F32(le(data, f32::from_le_bytes)),
        "<f8" => Elems::F64(le(data, f64::from_le_bytes)),
        "<i4" => Elems::I32(le(data, i32::from_le_bytes)),
        "<i8" => Elems::I64(le(data, i64::from_le_bytes)),
        _ => Elems::U8(data.to_vec()),
    };
    Ok(Npy { shape, data })
}

/// Reads `.npy` file `path`, checking the file's length against its header before reading
/// the data (a header that disagrees with the file's size allocates nothing large). The
/// outer error is the I/O error, the inner one the format's (a plain message).
pub(crate) fn read_npy(path: &std::path::Path) -> std::io::Result<std::result::Result<Npy, String>> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let total = usize::try_from(f.metadata()?.len()).unwrap_or(usize::MAX);
    let mut prefix = vec![0u8; total.min(12)];
    f.read_exact(&mut prefix)?;
    let hlen = match prefix.get(6) {
        Some(1) if prefix.len() >= 10 => usize::from(u16::from_le_bytes([prefix[8], prefix[9]])) + 10,
        Some(2 | 3) if prefix.len() >= 12 => {
            u32::from_le_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]) as usize + 12
        }
        _ => 0,
    };
    let want = hlen.min(total);
    if want > prefix.len() {
        let mut rest = vec![0u8; want - prefix.len()];
        f.read_exact(&mut rest)?;
        prefix.extend_from_slice(&rest);
    }
    if let Err(e) = parse_head(&prefix, total) {
        return Ok(Err(e));
    }
    let mut bytes = prefix;
    bytes.reserve_exact(total - bytes.len());
    f.read_to_end(&mut bytes)?;
    Ok(parse_npy(&bytes))
}

/// Parses the magic, version and header of a `.npy` file whose first bytes are `bytes` (at
/// least the whole header) and whose length is `total`; checks that the header's shape and
/// dtype fill exactly the rest. Returns `(descr, shape, end of header)`.
fn parse_head(bytes: &[u8], total: usize) -> std::result::Result<(String, Vec<usize>, usize), String> {
    const MAGIC: &[u8] = b"\x93NUMPY";
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not an .npy file (it does not start with \\x93NUMPY)".into());
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (hlen, start): (usize, usize) = match major {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err("truncated .npy header".into());
            }
            let n = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (usize::try_from(n).map_err(|_| "header length too large")?, 12)
        }
        _ => {
            return Err(format!(
                "unsupported .npy format version {major}.{minor} (1.0–3.0 are read)"
            ));
        }
    };
    let end = start
        .checked_add(hlen)
        .filter(|&e| e <= bytes.len() && e <= total)
        .ok_or_else(|| format!("header length {hlen} runs past the end of the file ({total} bytes)"))?;
    let header = std::str::from_utf8(&bytes[start..end]).map_err(|_| "header is not text".to_string())?;
    let (descr, fortran, shape) = parse_header(header).map_err(|e| format!("header {header:?}: {e}"))?;
    if fortran {
        return Err("Fortran-order arrays are not supported; save np.ascontiguousarray(a)".into());
    }
    let size = match descr.as_str() {
        "<f4" | "<i4" => 4,
        "<f8" | "<i8" => 8,
        "|u1" | "<u1" => 1,
        d if d.starts_with('>') => {
            return Err(format!(
                "big-endian dtype `{d}` is not supported; convert with a.astype('<{}')",
                &d[1..]
            ));
        }
        d if d.contains('O') => return Err(format!("object arrays (`{d}`) are not supported")),
        d => {
            return Err(format!(
                "dtype `{d}` is not supported (use <f4, <f8, <i8, <i4 or |u1)"
            ));
        }
    };
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| format!("shape {shape:?} overflows"))?;
    let data_len = total - end;
    if count.checked_mul(size) != Some(data_len) {
        return Err(format!(
            "header promises shape {shape:?} of `{descr}` ({count} values of {size} bytes) but the file \
             holds {data_len} data bytes"
        ));
    }
    Ok((descr, shape, end))
}

/// A value of the header dictionary.
enum HVal {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

/// Parses the header dictionary `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`:
/// exactly these three keys, once each. Returns `(descr, fortran_order, shape)`.
fn parse_header(h: &str) -> std::result::Result<(String, bool, Vec<usize>), String> {
    let s = h.as_bytes();
    let mut i = 0;
    let ws = |i: &mut usize| {
        while *i < s.len() && s[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    let expect = |i: &mut usize, c: u8| -> std::result::Result<(), String> {
        ws(i);
        if *i < s.len() && s[*i] == c {
            *i += 1;
            Ok(())
        } else {
            Err(format!("expected `{}` at byte {}", c as char, *i))
        }
    };
    let string = |i: &mut usize| -> std::result::Result<String, String> {
        ws(i);
        let q = *s.get(*i).ok_or("unexpected end")?;
        if q != b'\'' && q != b'"' {
            return Err(format!("expected a quoted string at byte {}", *i));
        }
        let from = *i + 1;
        let len = s[from..]
            .iter()
            .position(|&c| c == q)
            .ok_or("unterminated string")?;
        *i = from + len + 1;
        let v = &h[from..from + len];
        if v.contains('\\') {
            return Err("escapes in strings are not supported".into());
        }
        Ok(v.to_string())
    };
    expect(&mut i, b'{')?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        ws(&mut i);
        if s.get(i) == Some(&b'}') {
            i += 1;
            break;
        }
        let key = string(&mut i)?;
        expect(&mut i, b':')?;
        ws(&mut i);
        let val = match s.get(i) {
            Some(b'\'' | b'"') => HVal::Str(string(&mut i)?),
            Some(b'T') if s[i..].starts_with(b"True") => {
                i += 4;
                HVal::Bool(true)
            }
            Some(b'F') if s[i..].starts_with(b"False") => {
                i += 5;
                HVal::Bool(false)
            }
            Some(b'(') => {
                i += 1;
                let mut dims = Vec::new();
                loop {
                    ws(&mut i);
                    match s.get(i) {
                        Some(b')') => {
                            i += 1;
                            break;
                        }
                        Some(c) if c.is_ascii_digit() => {
                            let from = i;
                            while i < s.len() && s[i].is_ascii_digit() {
                                i += 1;
                            }
                            let d = h[from..i]
                                .parse::<usize>()
                                .map_err(|_| format!("dimension {} too large", &h[from..i]))?;
                            dims.push(d);
                            ws(&mut i);
                            match s.get(i) {
                                Some(b',') => i += 1,
                                Some(b')') => {}
                                _ => return Err(format!("expected `,` or `)` in shape at byte {i}")),
                            }
                        }
                        _ => return Err(format!("expected a non-negative integer in shape at byte {i}")),
                    }
                }
                HVal::Tuple(dims)
            }
            Some(b'[' | b'{') => {
                return Err(format!(
                    "value of `{key}` is a list or dict (structured dtypes are not supported)"
                ));
            }
            _ => return Err(format!("unsupported value for `{key}` at byte {i}")),
        };
        let slot_dup = |set: bool| {
            if set {
                Err(format!("duplicate key `{key}`"))
            } else {
                Ok(())
            }
        };
        match (key.as_str(), val) {
            ("descr", HVal::Str(v)) => {
                slot_dup(descr.is_some())?;
                descr = Some(v);
            }
            ("fortran_order", HVal::Bool(v)) => {
                slot_dup(fortran.is_some())?;
                fortran = Some(v);
            }
            ("shape", HVal::Tuple(v)) => {
                slot_dup(shape.is_some())?;
                shape = Some(v);
            }
            ("descr" | "fortran_order" | "shape", _) => return Err(format!("`{key}` has the wrong type")),
            (k, _) => return Err(format!("unknown key `{k}`")),
        }
        ws(&mut i);
        match s.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => {}
            _ => return Err(format!("expected `,` or `}}` at byte {i}")),
        }
    }
    ws(&mut i);
    if i != s.len() {
        return Err(format!("unexpected text after the dictionary at byte {i}"));
    }
    match (descr, fortran, shape) {
        (Some(d), Some(f), Some(s)) => Ok((d, f, s)),
        _ => Err("the header must hold `descr`, `fortran_order` and `shape`".into()),
    }
}
