// SPDX-License-Identifier: Apache-2.0
// Element types the operations accept, with their DLPack dtypes, and the two 16-bit float
// newtypes (IEEE half and bfloat16) with round-to-nearest-even conversions from f32.
use bluefog_sys as sys;

mod sealed {
    pub trait Sealed {}
}

/// A type BlueFog can communicate: `i8`, `i16`, `i32`, `i64`, `u8`, `f32`, `f64`, [`F16`],
/// [`Bf16`]. Sealed: the dtype must be one the library knows.
pub trait Element: sealed::Sealed + Copy + Send + Sync + 'static {
    /// The DLPack dtype of the type.
    const DTYPE: sys::DLDataType;
}

/// A floating element type: the ones weighted averages (neighbor_allreduce, pair_gossip,
/// averaging allreduce) accept. 16-bit floats are accumulated in f32 by the library.
pub trait FloatElement: Element {}

const fn dtype(code: sys::DLDataTypeCode, bits: u8) -> sys::DLDataType {
    sys::DLDataType { code, bits, lanes: 1 }
}

macro_rules! element {
    ($($ty:ty => $code:expr, $bits:expr, $float:tt;)*) => {$(
        impl sealed::Sealed for $ty {}
        impl Element for $ty {
            const DTYPE: sys::DLDataType = dtype($code, $bits);
        }
        element!(@float $ty, $float);
    )*};
    (@float $ty:ty, float) => { impl FloatElement for $ty {} };
    (@float $ty:ty, int) => {};
}

element! {
    i8 => sys::kDLInt, 8, int;
    i16 => sys::kDLInt, 16, int;
    i32 => sys::kDLInt, 32, int;
    i64 => sys::kDLInt, 64, int;
    u8 => sys::kDLUInt, 8, int;
    f32 => sys::kDLFloat, 32, float;
    f64 => sys::kDLFloat, 64, float;
    F16 => sys::kDLFloat, 16, float;
    Bf16 => sys::kDLBfloat, 16, float;
}

/// An IEEE 754 binary16 value, stored as its bits.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct F16(pub u16);

/// A bfloat16 value (the upper half of an f32), stored as its bits.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Bf16(pub u16);

/// Rounds `value >> shift` to nearest, ties to even (shift >= 1).
fn shift_round_even(value: u32, shift: u32) -> u32 {
    if shift >= 32 {
        return 0;
    }
    let kept = value >> shift;
    let rest = value & ((1 << shift) - 1);
    let half = 1 << (shift - 1);
    kept + u32::from(rest > half || (rest == half && kept & 1 == 1))
}

impl F16 {
    /// The nearest half (ties to even); overflow gives infinity, NaN stays NaN.
    pub fn from_f32(value: f32) -> F16 {
        let bits = value.to_bits();
        let sign = ((bits >> 16) & 0x8000) as u16;
        let exponent = ((bits >> 23) & 0xff) as i32;
        let mantissa = bits & 0x7f_ffff;
        if exponent == 0xff {
            let nan = if mantissa != 0 { 0x200 } else { 0 };
            return F16(sign | 0x7c00 | nan);
        }
        let half_exponent = exponent - 127 + 15;
        if half_exponent >= 0x1f {
            return F16(sign | 0x7c00);
        }
        if half_exponent <= 0 {
            // Subnormal half: value = m * 2^-24, with the implicit bit made explicit.
            let shift = (14 - half_exponent) as u32;
            return F16(sign | shift_round_even(mantissa | 0x80_0000, shift) as u16);
        }
        // A carry out of the mantissa rounds into the exponent, up to infinity: that is right.
        let combined = ((half_exponent as u32) << 23) | mantissa;
        F16(sign | shift_round_even(combined, 13) as u16)
    }

    /// The exact f32 value.
    pub fn to_f32(self) -> f32 {
        let bits = u32::from(self.0);
        let sign = (bits & 0x8000) << 16;
        let exponent = (bits >> 10) & 0x1f;
        let mantissa = bits & 0x3ff;
        let magnitude = match exponent {
            0 => return sign_of(sign) * (mantissa as f32) * f32::powi(2.0, -24),
            0x1f => 0x7f80_0000 | (mantissa << 13),
            _ => ((exponent + 112) << 23) | (mantissa << 13),
        };
        f32::from_bits(sign | magnitude)
    }
}

fn sign_of(sign_bit: u32) -> f32 {
    if sign_bit != 0 {
        -1.0
    } else {
        1.0
    }
}

impl Bf16 {
    /// The nearest bfloat16 (ties to even); NaN stays NaN.
    pub fn from_f32(value: f32) -> Bf16 {
        let bits = value.to_bits();
        if value.is_nan() {
            return Bf16(((bits >> 16) | 0x40) as u16);
        }
        let rounding = 0x7fff + ((bits >> 16) & 1);
        Bf16((bits.wrapping_add(rounding) >> 16) as u16)
    }

    /// The exact f32 value.
    pub fn to_f32(self) -> f32 {
        f32::from_bits(u32::from(self.0) << 16)
    }
}

impl From<f32> for F16 {
    fn from(value: f32) -> F16 {
        F16::from_f32(value)
    }
}

impl From<F16> for f32 {
    fn from(value: F16) -> f32 {
        value.to_f32()
    }
}

impl From<f32> for Bf16 {
    fn from(value: f32) -> Bf16 {
        Bf16::from_f32(value)
    }
}

impl From<Bf16> for f32 {
    fn from(value: Bf16) -> f32 {
        value.to_f32()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_conversions_match_known_encodings() {
        let cases: [(f32, u16); 10] = [
            (0.0, 0x0000),
            (-0.0, 0x8000),
            (1.0, 0x3c00),
            (-2.0, 0xc000),
            (0.5, 0x3800),
            (65504.0, 0x7bff),        // largest finite half
            (65520.0, 0x7c00),        // rounds up to infinity
            (6.103_515_6e-5, 0x0400), // smallest normal, 2^-14
            (5.960_464_5e-8, 0x0001), // smallest subnormal, 2^-24
            (1.000_488_3, 0x3c00),    // 1 + 2^-11: a tie, rounds to even
        ];
        for (value, bits) in cases {
            assert_eq!(F16::from_f32(value).0, bits, "{value}");
        }
        assert!(F16::from_f32(f32::NAN).to_f32().is_nan());
        assert_eq!(F16::from_f32(f32::INFINITY).0, 0x7c00);
    }

    #[test]
    fn every_finite_half_round_trips() {
        for bits in 0..=u16::MAX {
            let half = F16(bits);
            let value = half.to_f32();
            if value.is_finite() {
                assert_eq!(F16::from_f32(value).0, bits, "{bits:#06x} -> {value}");
            }
        }
    }

    #[test]
    fn bfloat16_rounds_to_nearest_even() {
        assert_eq!(Bf16::from_f32(1.0).0, 0x3f80);
        assert_eq!(Bf16::from_f32(-3.5).to_f32(), -3.5);
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties to the even mantissa, 1.0.
        assert_eq!(Bf16::from_f32(1.0 + f32::powi(2.0, -8)).to_f32(), 1.0);
        assert_eq!(
            Bf16::from_f32(1.0 + 3.0 * f32::powi(2.0, -8)).to_f32(),
            1.0 + f32::powi(2.0, -6)
        );
        assert!(Bf16::from_f32(f32::NAN).to_f32().is_nan());
    }
}
