//! Element types: how a node block stores its full vector, and the conversion between
//! those bytes and the f32 values every kernel works on.
//!
//! Float types store the vector as prepared for the metric (unit length under cosine).
//! Integer types store the input's own values times `1 / scale`, rounded: integer-valued
//! inputs in range (SIFT's bytes, TINYINT arrays) keep `scale = 1` and are exact. Under
//! cosine an integer vector is normalised after decoding, so normalising never costs
//! integer precision.

use half::{bf16, f16};
use rayon::prelude::*;

use super::Metric;
use crate::error::{Error, Result};

/// How vector elements are stored in node blocks; the code is recorded in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElementType {
    F32,
    F16,
    BF16,
    I8,
    U8,
}

impl ElementType {
    pub const ALL: [ElementType; 5] = [ElementType::F32, ElementType::F16, ElementType::BF16, ElementType::I8, ElementType::U8];

    /// Code recorded in the header.
    pub fn code(self) -> u8 {
        match self {
            ElementType::F32 => 1,
            ElementType::F16 => 2,
            ElementType::BF16 => 3,
            ElementType::I8 => 4,
            ElementType::U8 => 5,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }

    /// Bytes one element takes on disk.
    pub fn size(self) -> usize {
        match self {
            ElementType::F32 => 4,
            ElementType::F16 | ElementType::BF16 => 2,
            ElementType::I8 | ElementType::U8 => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ElementType::F32 => "f32",
            ElementType::F16 => "f16",
            ElementType::BF16 => "bf16",
            ElementType::I8 => "i8",
            ElementType::U8 => "u8",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn is_integer(self) -> bool {
        matches!(self, ElementType::I8 | ElementType::U8)
    }

    /// The integer range, for integer types.
    pub fn int_range(self) -> Option<(f32, f32)> {
        match self {
            ElementType::I8 => Some((-128.0, 127.0)),
            ElementType::U8 => Some((0.0, 255.0)),
            _ => None,
        }
    }
}

/// The f32 value of finite f16 bits, branch-free so slices of them vectorise (`half`
/// converts one value at a time without F16C). Moving the exponent and mantissa into
/// place and multiplying by 2^112 rebiases the exponent exactly, subnormals included.
#[inline]
pub fn f16_to_f32(bits: u16) -> f32 {
    let magnitude = f32::from_bits(u32::from(bits & 0x7fff) << 13) * f32::from_bits(0x7780_0000);
    f32::from_bits(magnitude.to_bits() | (u32::from(bits & 0x8000) << 16))
}

/// A stored type together with the scale integer types need.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ElementCodec {
    pub element: ElementType,
    /// Integer types: stored integer x scale = value. Float types: 1.
    pub scale: f32,
}

/// How much storing changed the values: the largest absolute change and where.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Loss {
    pub max_error: f32,
    pub row: usize,
    pub element: usize,
}

impl ElementCodec {
    /// The codec for storing `data` (`dims` wide; values as prepared by [`stored_values`])
    /// as `element`. Refuses values the type cannot hold, naming the row.
    pub fn for_data(element: ElementType, data: &[f32], dims: usize, rowids: &[u64]) -> Result<ElementCodec> {
        let mut scan = CodecScan::new(element);
        scan.scan(data, dims, rowids, 0)?;
        Ok(scan.codec())
    }
    /// Writes `x` as stored bytes (`dims * element.size()` of them).
    pub fn encode(&self, x: &[f32], out: &mut [u8]) {
        match self.element {
            ElementType::F32 => crate::format::write_f32s(out, x),
            ElementType::F16 => out.chunks_exact_mut(2).zip(x).for_each(|(o, v)| o.copy_from_slice(&f16::from_f32(*v).to_le_bytes())),
            ElementType::BF16 => out.chunks_exact_mut(2).zip(x).for_each(|(o, v)| o.copy_from_slice(&bf16::from_f32(*v).to_le_bytes())),
            ElementType::I8 | ElementType::U8 => {
                let (lo, hi) = self.element.int_range().expect("integer type");
                for (o, v) in out.iter_mut().zip(x) {
                    let q = (v / self.scale).round().clamp(lo, hi);
                    *o = if self.element == ElementType::I8 { q as i8 as u8 } else { q as u8 };
                }
            }
        }
    }

    /// Reads stored bytes back into f32 values.
    pub fn decode(&self, bytes: &[u8], out: &mut [f32]) {
        match self.element {
            ElementType::F32 => crate::format::read_f32s(bytes, out),
            ElementType::F16 => {
                out.iter_mut().zip(bytes.chunks_exact(2)).for_each(|(o, b)| *o = f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
            }
            // bf16 is the top half of an f32.
            ElementType::BF16 => out
                .iter_mut()
                .zip(bytes.chunks_exact(2))
                .for_each(|(o, b)| *o = f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16)),
            ElementType::I8 => out.iter_mut().zip(bytes).for_each(|(o, b)| *o = f32::from(*b as i8) * self.scale),
            ElementType::U8 => out.iter_mut().zip(bytes).for_each(|(o, b)| *o = f32::from(*b) * self.scale),
        }
    }

    /// Decodes a stored vector and prepares it for `metric` (integer types are stored
    /// unnormalised). Returns false for a vector cosine cannot use (zero after decoding).
    pub fn decode_prepared(&self, metric: Metric, bytes: &[u8], out: &mut [f32]) -> bool {
        self.decode(bytes, out);
        !self.element.is_integer() || metric.prepare(out)
    }

    /// Round-trips every row of `data` in place (encode, decode) and reports the largest
    /// change, if anything changed (the first such row on ties). The encoded rows go to
    /// `keep` when the caller needs them (`dims * element.size()` bytes per row).
    pub fn round_trip(&self, data: &mut [f32], dims: usize, keep: Option<&mut [u8]>) -> Option<Loss> {
        let row_bytes = dims * self.element.size();
        let round_trip_row = |row: usize, v: &mut [f32], bytes: &mut [u8], decoded: &mut Vec<f32>| {
            self.encode(v, bytes);
            decoded.resize(dims, 0.0);
            self.decode(bytes, decoded);
            let worst = v
                .iter()
                .zip(decoded.iter())
                .enumerate()
                .map(|(element, (a, b))| Loss { max_error: (a - b).abs(), row, element })
                .filter(|l| l.max_error > 0.0)
                .reduce(|a, b| if b.max_error > a.max_error { b } else { a });
            v.copy_from_slice(decoded);
            worst
        };
        let rows = data.par_chunks_mut(dims).enumerate();
        match keep {
            Some(bytes) => rows
                .zip(bytes.par_chunks_mut(row_bytes))
                .map_init(Vec::new, |decoded, ((row, v), b)| round_trip_row(row, v, b, decoded))
                .reduce(|| None, worse),
            // f32 is stored as it is.
            None if self.element == ElementType::F32 => None,
            None => rows
                .map_init(|| (vec![0u8; row_bytes], Vec::new()), |(b, decoded), (row, v)| round_trip_row(row, v, b, decoded))
                .reduce(|| None, worse),
        }
    }
}

/// [`ElementCodec::for_data`] over a set read in chunks: an integer type's scale depends
/// on every value, so the codec is known once every chunk has been scanned.
#[derive(Clone, Copy, Debug)]
pub struct CodecScan {
    element: ElementType,
    /// Every value so far is an integer the type holds: the scale stays 1.
    fits: bool,
    /// The largest magnitude so far.
    max: f32,
}

impl CodecScan {
    pub fn new(element: ElementType) -> Self {
        CodecScan { element, fits: true, max: 0.0 }
    }

    /// Scans the rows of `data` (`dims` wide), the first of which is row `first_row` of the
    /// input. Refuses values the type cannot hold, naming the row.
    pub fn scan(&mut self, data: &[f32], dims: usize, rowids: &[u64], first_row: u64) -> Result<()> {
        let refuse = |i: usize, why: &str, hint: &str| {
            let (row, e) = (i / dims, i % dims);
            Error::InvalidData(format!(
                "row {} (rowid {}) element {e} (counting from 0) is {}, which {why}: {hint}",
                first_row + row as u64,
                rowids[row],
                data[i]
            ))
        };
        match self.element {
            ElementType::F32 | ElementType::BF16 => {}
            ElementType::F16 => {
                if let Some(i) = data.iter().position(|x| !f16::from_f32(*x).is_finite()) {
                    return Err(refuse(i, "is outside the f16 range (+-65504)", "use --store bf16 or f32"));
                }
            }
            ElementType::I8 | ElementType::U8 => {
                let (lo, hi) = self.element.int_range().expect("integer type");
                if self.element == ElementType::U8 {
                    if let Some(i) = data.iter().position(|x| *x < 0.0) {
                        return Err(refuse(i, "u8 cannot hold", "use --store i8"));
                    }
                }
                self.fits = self.fits && data.iter().all(|x| x.fract() == 0.0 && (lo..=hi).contains(x));
                self.max = data.iter().fold(self.max, |m, x| m.max(x.abs()));
            }
        }
        Ok(())
    }

    /// The codec for everything scanned.
    pub fn codec(&self) -> ElementCodec {
        let scale = match self.element.int_range() {
            Some((_, hi)) if !self.fits && self.max != 0.0 => self.max / hi,
            _ => 1.0,
        };
        ElementCodec { element: self.element, scale }
    }
}

/// The larger of two losses; on a tie, the earlier row's.
pub(crate) fn worse(a: Option<Loss>, b: Option<Loss>) -> Option<Loss> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.max_error > a.max_error || (b.max_error == a.max_error && b.row < a.row) { b } else { a }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(element: ElementType, values: &[f32]) -> (ElementCodec, Vec<f32>, Option<Loss>) {
        let codec = ElementCodec::for_data(element, values, values.len(), &[9]).unwrap();
        let mut data = values.to_vec();
        let loss = codec.round_trip(&mut data, values.len(), None);
        (codec, data, loss)
    }

    #[test]
    fn f16_conversion_agrees_with_half_for_every_finite_value() {
        for bits in 0..=u16::MAX {
            let h = f16::from_bits(bits);
            if h.is_finite() {
                assert_eq!(f16_to_f32(bits).to_bits(), h.to_f32().to_bits(), "bits {bits:#06x}");
            }
        }
    }

    #[test]
    fn every_type_round_trips_the_values_it_can_hold_exactly() {
        let small_ints = [0.0, 1.0, 7.0, 100.0, 127.0];
        for element in ElementType::ALL {
            let (codec, data, loss) = round_trip(element, &small_ints);
            assert_eq!(data, small_ints, "{element:?}");
            assert_eq!(loss, None, "{element:?}");
            assert_eq!(codec.scale, 1.0, "{element:?}");
            assert_eq!(ElementType::from_code(element.code()), Some(element));
            assert_eq!(ElementType::from_name(element.name()), Some(element));
        }
        let (_, data, loss) = round_trip(ElementType::I8, &[-128.0, -1.0, 5.0]);
        assert_eq!((data, loss), (vec![-128.0, -1.0, 5.0], None));
        let (_, data, loss) = round_trip(ElementType::U8, &[255.0, 0.0, 200.0]);
        assert_eq!((data, loss), (vec![255.0, 0.0, 200.0], None));
    }

    #[test]
    fn lossy_conversions_report_their_largest_error_within_the_types_precision() {
        let values: Vec<f32> = (0..64).map(|i| ((i as f32) * 0.731).sin() * 0.9).collect();
        for (element, bound) in [
            (ElementType::F32, 0.0),
            (ElementType::F16, 0.9 / 1024.0),
            (ElementType::BF16, 0.9 / 128.0),
            (ElementType::I8, 0.9 / 127.0 / 2.0 + 1e-6),
        ] {
            let (_, data, loss) = round_trip(element, &values);
            let worst = values.iter().zip(&data).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(worst <= bound, "{element:?}: error {worst} above {bound}");
            match loss {
                None => assert_eq!(worst, 0.0, "{element:?}"),
                Some(l) => {
                    assert_eq!(l.max_error, worst, "{element:?}");
                    assert_eq!((values[l.element] - data[l.element]).abs(), worst);
                }
            }
            assert_eq!(loss.is_some(), element != ElementType::F32, "{element:?}");
        }
        // u8 scales non-integer positive values onto 0..255.
        let positive: Vec<f32> = values.iter().map(|v| v.abs() * 3.0).collect();
        let (codec, data, loss) = round_trip(ElementType::U8, &positive);
        assert!(loss.is_some() && codec.scale > 0.0);
        let max = positive.iter().fold(0.0f32, |m, v| m.max(*v));
        assert!(positive.iter().zip(&data).all(|(a, b)| (a - b).abs() <= max / 255.0 / 2.0 + 1e-6));
    }

    #[test]
    fn values_a_type_cannot_hold_are_refused_naming_row_and_hint() {
        let e = ElementCodec::for_data(ElementType::U8, &[1.0, 2.0, -3.0, 4.0], 2, &[10, 11]).unwrap_err().to_string();
        assert!(e.contains("row 1 (rowid 11) element 0") && e.contains("--store i8"), "{e}");
        let e = ElementCodec::for_data(ElementType::F16, &[1.0, 1e6], 2, &[3]).unwrap_err().to_string();
        assert!(e.contains("row 0 (rowid 3) element 1") && e.contains("f16 range"), "{e}");
        assert!(ElementCodec::for_data(ElementType::BF16, &[1e30], 1, &[0]).is_ok());
    }

    #[test]
    fn integer_vectors_are_normalised_after_decoding_under_cosine() {
        let codec = ElementCodec { element: ElementType::I8, scale: 1.0 };
        let mut bytes = [0u8; 2];
        codec.encode(&[3.0, -4.0], &mut bytes);
        let mut out = [0.0f32; 2];
        assert!(codec.decode_prepared(Metric::Cosine, &bytes, &mut out));
        assert_eq!(out, [0.6, -0.8]);
        assert!(codec.decode_prepared(Metric::L2, &bytes, &mut out));
        assert_eq!(out, [3.0, -4.0]);
        codec.encode(&[0.0, 0.0], &mut bytes);
        assert!(!codec.decode_prepared(Metric::Cosine, &bytes, &mut out));
    }
}
