//! Fixed-point integers for the one sum the decision path evaluates per orientation, the entry
//! margin. `rust_decimal` arithmetic costs 10-20 ns per multiplication and rescales on every
//! addition of unlike scales; measured, it was more than half of each market event's cost. The
//! margin's terms change only when their stream updates, so each is converted once, there, to an
//! `i64` count of 10⁻¹² units ([`Fx`]); a decision then multiplies two of them into an exact
//! `i128` of 10⁻²⁴ units and adds a few more, with no rounding at all.
//!
//! What is rounded is each term's conversion, half away from zero to 12 decimal places: an APR ×
//! hours term is off by at most 5·10⁻¹³ and a price by at most 5·10⁻¹³ quote units, so the margin
//! (quote units × hours, at prices below 10⁷) is off by far less than a millionth of a quote unit.
//! A term that does not fit (a price of 10⁷ or more, a rate past any venue's cap) makes the
//! conversion return `None`, and the caller decides with exact decimals instead.

use rust_decimal::Decimal;

/// Decimal places of an [`Fx`].
pub const FX_DP: u32 = 12;

/// `10^FX_DP` as the unit of an [`Fx`].
pub const FX_ONE: i64 = 1_000_000_000_000;

/// A quantity in 10⁻¹² units. The product of two is an `i128` in 10⁻²⁴ units ([`Fx2`]).
pub type Fx = i64;

/// A quantity in 10⁻²⁴ units: the product of two [`Fx`].
pub type Fx2 = i128;

const POW10: [i128; 29] = {
    let mut p = [1i128; 29];
    let mut i = 1;
    while i < 29 {
        p[i] = p[i - 1] * 10;
        i += 1;
    }
    p
};

/// `d` in 10⁻¹² units, rounded half away from zero; `None` when it does not fit an `i64`
/// (|d| ≥ about 9.2·10⁶).
pub fn to_fx(d: Decimal) -> Option<Fx> {
    let m = d.mantissa();
    let scale = d.scale();
    let v = if scale <= FX_DP {
        m.checked_mul(POW10[(FX_DP - scale) as usize])?
    } else {
        let div = POW10[(scale - FX_DP) as usize];
        let (q, r) = (m / div, m % div);
        // Half away from zero: |r| ≥ div/2 rounds the magnitude up.
        if 2 * r.abs() >= div {
            q + m.signum()
        } else {
            q
        }
    };
    i64::try_from(v).ok()
}

/// `a × b` in 10⁻²⁴ units, exact.
#[inline]
pub fn mul(a: Fx, b: Fx) -> Fx2 {
    i128::from(a) * i128::from(b)
}

/// An [`Fx2`] as a decimal, for the tests that compare it with the exact margin: exact when it
/// fits 28 digits.
#[cfg(test)]
pub(crate) fn fx2_to_decimal(v: Fx2) -> Option<Decimal> {
    Decimal::try_from_i128_with_scale(v, 2 * FX_DP)
        .ok()
        .or_else(|| Decimal::try_from_i128_with_scale(v / POW10[FX_DP as usize], FX_DP).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal literal")
    }

    #[test]
    fn conversions_round_half_away_from_zero_at_twelve_places() {
        let cases = [
            ("0", Some(0)),
            ("1", Some(FX_ONE)),
            ("-2.5", Some(-2_500_000_000_000)),
            ("0.00038167", Some(381_670_000)),
            ("0.0000000000004", Some(0)),
            ("0.0000000000005", Some(1)),
            ("-0.0000000000005", Some(-1)),
            ("0.0000000000015", Some(2)),
            ("65000.123456789012345", Some(65_000_123_456_789_012)),
            ("9223372.036854775807", Some(i64::MAX)),
            ("9223372.036854775808", None),
            ("-10000000", None),
        ];
        for (text, want) in cases {
            assert_eq!(to_fx(d(text)), want, "{text}");
        }
    }

    #[test]
    fn products_are_exact_in_the_wider_unit() {
        let (a, b) = (to_fx(d("1234.5")).unwrap(), to_fx(d("-0.002")).unwrap());
        assert_eq!(fx2_to_decimal(mul(a, b)), Some(d("-2.469")));
        assert_eq!(fx2_to_decimal(mul(3 * FX_ONE, FX_ONE)), Some(d("3")));
    }
}
