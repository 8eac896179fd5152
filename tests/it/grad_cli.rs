//! The `sasnet grad` verification interface end to end: an input file assembled here from raw
//! safetensors bytes (not through sasnet's writer), the golden values by hand, and clear
//! errors (exit code 1, never a panic) for malformed input.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sasnet")
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sasnet-gradcli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Builds a safetensors file by hand: 8-byte little-endian header length, JSON header, data.
fn raw_safetensors(tensors: &[(&str, &str, Vec<usize>, Vec<u8>)], meta: &[(&str, &str)]) -> Vec<u8> {
    let mut header = String::from("{");
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        let shape: Vec<String> = shape.iter().map(|s| s.to_string()).collect();
        header += &format!(
            "\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{}],\"data_offsets\":[{},{}]}},",
            shape.join(","),
            data.len(),
            data.len() + bytes.len()
        );
        data.extend_from_slice(bytes);
    }
    let meta: Vec<String> = meta.iter().map(|(k, v)| format!("\"{k}\":\"{v}\"")).collect();
    header += &format!("\"__metadata__\":{{{}}}}}", meta.join(","));
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&data);
    out
}

fn f64s(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The golden case of `tests/gradcheck.rs` (N = I = K = B = T = 1) as raw tensors.
fn golden_tensors() -> Vec<(&'static str, &'static str, Vec<usize>, Vec<u8>)> {
    let one = vec![1, 1];
    let t3 = vec![1, 1, 1];
    vec![
        ("in.m", "F64", one.clone(), f64s(&[1.0])),
        ("in.pi", "F64", one.clone(), f64s(&[0.0])),
        ("in.xi", "F64", one.clone(), f64s(&[0.0])),
        ("rec.m", "F64", one.clone(), f64s(&[0.5])),
        ("rec.pi", "F64", one.clone(), f64s(&[0.2])),
        ("rec.xi", "F64", one.clone(), f64s(&[0.1])),
        ("out.m", "F64", one.clone(), f64s(&[2.0])),
        ("out.pi", "F64", one.clone(), f64s(&[0.5])),
        ("out.xi", "F64", one.clone(), f64s(&[0.0])),
        ("h0", "F64", one.clone(), f64s(&[0.4])),
        ("x", "F64", t3.clone(), f64s(&[0.6])),
        ("eps_u", "F64", t3.clone(), f64s(&[1.0])),
        ("eps_out", "F64", t3.clone(), f64s(&[-0.5])),
        ("noise_rec", "F64", t3.clone(), f64s(&[0.0])),
        ("target", "F64", t3.clone(), f64s(&[1.0])),
        ("mask", "F64", t3, f64s(&[1.0])),
    ]
}

const GOLDEN_META: [(&str, &str); 4] = [
    ("alpha", "0.5"),
    ("sigma", "0"),
    ("loss", "mse"),
    ("sas_in", "false"),
];

fn run(input: &Path, output: &Path) -> std::process::Output {
    Command::new(bin())
        .arg("grad")
        .arg(input)
        .arg(output)
        .output()
        .unwrap()
}

fn read_f64(bytes: &[u8], name: &str) -> Vec<f64> {
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let t = st.tensor(name).unwrap();
    assert_eq!(format!("{:?}", t.dtype()), "F64", "{name} dtype");
    t.data()
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn golden_case_through_the_command_line() {
    let d = tmpdir("golden");
    let (i, o) = (d.join("in.safetensors"), d.join("out.safetensors"));
    std::fs::write(&i, raw_safetensors(&golden_tensors(), &GOLDEN_META)).unwrap();
    let out = run(&i, &o);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&o).unwrap();
    let close = |name: &str, v: f64| {
        let got = read_f64(&bytes, name);
        assert_eq!(got.len(), 1, "{name}");
        assert!((got[0] - v).abs() < 1e-14, "{name}: {} vs {v}", got[0]);
    };
    close("loss", 0.22805487853252196);
    close("grad.rec.m", -0.06962546635287517);
    close("grad.rec.pi", 0.0288939655533732);
    close("grad.rec.xi", -0.07798373822492685);
    close("grad.in.m", -0.10130384757729337);
    close("grad.in.pi", 0.0);
    close("grad.in.xi", 0.0);
    close("grad.out.m", -0.10962461339178928);
    close("grad.out.pi", 0.8769969071343142);
    close("grad.out.xi", 0.05481230669589464);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn f32_inputs_give_f32_outputs() {
    let d = tmpdir("f32");
    let (i, o) = (d.join("in.safetensors"), d.join("out.safetensors"));
    let t: Vec<_> = golden_tensors()
        .into_iter()
        .map(|(n, _, s, b)| {
            let v: Vec<u8> = b
                .chunks_exact(8)
                .flat_map(|c| (f64::from_le_bytes(c.try_into().unwrap()) as f32).to_le_bytes())
                .collect();
            (n, "F32", s, v)
        })
        .collect();
    std::fs::write(&i, raw_safetensors(&t, &GOLDEN_META)).unwrap();
    let out = run(&i, &o);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&o).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let l = st.tensor("loss").unwrap();
    assert_eq!(format!("{:?}", l.dtype()), "F32");
    let v = f32::from_le_bytes(l.data().try_into().unwrap());
    assert!((v as f64 - 0.22805487853252196).abs() < 1e-6);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn malformed_inputs_are_clear_errors() {
    let d = tmpdir("bad");
    let o = d.join("out.safetensors");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "garbage",
            b"not a safetensors file at all".to_vec(),
            "not a valid safetensors",
        ),
        ("empty", Vec::new(), "not a valid safetensors"),
        (
            "missing-tensor",
            raw_safetensors(&golden_tensors()[..9], &GOLDEN_META),
            "`x` is missing",
        ),
        (
            "bad-meta",
            raw_safetensors(
                &golden_tensors(),
                &[
                    ("alpha", "fast"),
                    ("sigma", "0"),
                    ("loss", "mse"),
                    ("sas_in", "false"),
                ],
            ),
            "metadata `alpha`",
        ),
        (
            "no-loss",
            raw_safetensors(
                &golden_tensors(),
                &[("alpha", "0.5"), ("sigma", "0"), ("sas_in", "false")],
            ),
            "metadata `loss`",
        ),
        (
            "bad-pi",
            {
                let mut t = golden_tensors();
                t[4].3 = f64s(&[1.5]);
                raw_safetensors(&t, &GOLDEN_META)
            },
            "rec.pi",
        ),
        (
            "wrong-shape",
            {
                let mut t = golden_tensors();
                t[9] = ("h0", "F64", vec![2, 1], f64s(&[0.4, 0.4]));
                raw_safetensors(&t, &GOLDEN_META)
            },
            "`h0` has shape [2, 1]",
        ),
        (
            "mixed-dtype",
            {
                let mut t = golden_tensors();
                t[10] = ("x", "F32", vec![1, 1, 1], 0.6f32.to_le_bytes().to_vec());
                raw_safetensors(&t, &GOLDEN_META)
            },
            "`x` has dtype F32",
        ),
        (
            "nan",
            {
                let mut t = golden_tensors();
                t[10].3 = f64s(&[f64::NAN]);
                raw_safetensors(&t, &GOLDEN_META)
            },
            "`x`",
        ),
    ];
    for (name, bytes, expect) in cases {
        let i = d.join(format!("{name}.safetensors"));
        std::fs::write(&i, bytes).unwrap();
        let out = run(&i, &o);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(expect), "{name}: expected `{expect}` in: {err}");
        assert!(!o.exists(), "{name}: an output file was written");
    }
    let out = run(&d.join("does-not-exist.safetensors"), &o);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does-not-exist"));
    std::fs::remove_dir_all(&d).unwrap();
}

/// The golden tensors with `loss = ce_steps`: `labels` and `mask` `[T, B] = [1, 1]`.
fn ce_steps_case(label: f64, mask: f64) -> Vec<u8> {
    let mut t = golden_tensors();
    t.truncate(14);
    t.push(("labels", "F64", vec![1, 1], f64s(&[label])));
    t.push(("mask", "F64", vec![1, 1], f64s(&[mask])));
    let meta = [
        ("alpha", "0.5"),
        ("sigma", "0"),
        ("loss", "ce_steps"),
        ("sas_in", "false"),
    ];
    raw_safetensors(&t, &meta)
}

#[test]
fn per_step_cross_entropy_through_the_command_line() {
    let d = tmpdir("ce-steps");
    let (i, o) = (d.join("in.safetensors"), d.join("out.safetensors"));
    // K = 1: softmax is 1, so the loss and every gradient are exactly 0.
    std::fs::write(&i, ce_steps_case(0.0, 2.0)).unwrap();
    let out = run(&i, &o);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&o).unwrap();
    assert_eq!(read_f64(&bytes, "loss"), [0.0]);
    assert_eq!(read_f64(&bytes, "grad.rec.m"), [0.0]);
    std::fs::remove_file(&o).unwrap();
    for (name, label, mask, expect) in [
        ("fraction", 0.5, 1.0, "integers in 0..1"),
        ("too-large", 1.0, 1.0, "entry 0 is 1"),
        ("negative-mask", 0.0, -1.0, "`mask`"),
        ("zero-mask", 0.0, 0.0, "sums to 0"),
    ] {
        std::fs::write(&i, ce_steps_case(label, mask)).unwrap();
        let out = run(&i, &o);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(expect), "{name}: expected `{expect}` in: {err}");
        assert!(!o.exists(), "{name}: an output file was written");
    }
    std::fs::remove_dir_all(&d).unwrap();
}
