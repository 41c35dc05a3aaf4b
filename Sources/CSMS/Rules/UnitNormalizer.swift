public import Foundation

/// Brings sampled values to the units Voltaic stores: Wh, W, A, V (and varh, var, VA, Percent, K as they come).
public enum UnitNormalizer {
    /// The unit a measurand has when the station does not say.
    public static func defaultUnit(for measurand: String) -> String {
        if measurand.hasPrefix("Energy.Reactive") { return "varh" }
        if measurand.hasPrefix("Energy") { return "Wh" }
        if measurand.hasPrefix("Power.Reactive") { return "var" }
        if measurand.hasPrefix("Power.Factor") { return "" }
        if measurand.hasPrefix("Power") { return "W" }
        if measurand.hasPrefix("Current") { return "A" }
        if measurand.hasPrefix("Voltage") { return "V" }
        if measurand == "SoC" { return "Percent" }
        if measurand == "Temperature" { return "Celsius" }
        if measurand == "Frequency" { return "Hz" }
        return ""
    }

    /// Normalises `value unit` (with a 2.0.1 power-of-ten `multiplier`) to the stored unit. Nil when the
    /// result is not a number a meter can show: a multiplier outside `WireLimits.multiplier`, or a magnitude
    /// beyond `WireLimits.maxSampleMagnitude`. The caller keeps such a sample raw and flags it.
    public static func normalize(value: Decimal, unit: String?, multiplier: Int = 0, measurand: String) -> (Decimal?, String) {
        let unit = (unit?.isEmpty == false ? unit! : defaultUnit(for: measurand))
        let (scale, stored): (Int, String) =
            switch unit {
            case "kWh": (3, "Wh")
            case "kW": (3, "W")
            case "kVA": (3, "VA")
            case "kvar": (3, "var")
            case "kvarh": (3, "varh")
            case "Celcius": (0, "Celsius")  // the 1.6 schema's spelling
            default: (0, unit)
            }
        guard WireLimits.multiplier.contains(multiplier), value.isFinite else { return (nil, stored) }
        // A power of ten changes the exponent only: no loop, no overflow (Decimal's exponent is -128...127).
        let exponent = Int(value.exponent) + multiplier + scale
        guard (-100...100).contains(exponent) else { return (nil, stored) }
        let v = Decimal(sign: value.sign, exponent: exponent, significand: value.significand)
        guard v.magnitude <= WireLimits.maxSampleMagnitude else { return (nil, stored) }
        return (v, stored)
    }

    /// Parses a decimal number as OCPP 1.6 sends it in `sampledValue.value`.
    public static func parseDecimal(_ text: String) -> Decimal? {
        if let plain = text.utf8.withContiguousStorageIfAvailable(plainDecimal) ?? nil { return plain }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed.allSatisfy({ $0.isNumber || $0 == "." || $0 == "-" || $0 == "+" || $0 == "e" || $0 == "E" }) else { return nil }
        return Decimal(string: trimmed, locale: Locale(identifier: "en_US_POSIX"))
    }

    /// The common shape, read without Foundation's scanner: `[+-]digits[.digits][(e|E)[+-]digits]` in ASCII, at most
    /// 18 digits of mantissa and 4 of exponent, the result's exponent within -100...100. Nil for anything else, which
    /// `parseDecimal` then reads as before; where both read a text, they give the same number (`RulesTests`).
    static func plainDecimal(_ bytes: UnsafeBufferPointer<UInt8>) -> Decimal? {
        var i = 0
        let n = bytes.count
        var negative = false
        if i < n, bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+") {
            negative = bytes[i] == UInt8(ascii: "-")
            i += 1
        }
        var mantissa: UInt64 = 0
        var digits = 0
        var fraction = 0
        var seenPoint = false
        while i < n {
            let b = bytes[i]
            if b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") {
                guard digits < 18 else { return nil }
                mantissa = mantissa * 10 + UInt64(b - UInt8(ascii: "0"))
                digits += 1
                if seenPoint { fraction += 1 }
            } else if b == UInt8(ascii: "."), !seenPoint {
                seenPoint = true
            } else {
                break
            }
            i += 1
        }
        guard digits > 0 else { return nil }
        var exponent = 0
        if i < n, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            var negativeExponent = false
            if i < n, bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+") {
                negativeExponent = bytes[i] == UInt8(ascii: "-")
                i += 1
            }
            var expDigits = 0
            while i < n, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") {
                guard expDigits < 4 else { return nil }
                exponent = exponent * 10 + Int(bytes[i] - UInt8(ascii: "0"))
                expDigits += 1
                i += 1
            }
            guard expDigits > 0 else { return nil }
            if negativeExponent { exponent = -exponent }
        }
        guard i == n else { return nil }
        exponent -= fraction
        guard (-100...100).contains(exponent) else { return nil }
        if mantissa == 0 { return Decimal(0) }
        return Decimal(sign: negative ? .minus : .plus, exponent: exponent, significand: Decimal(mantissa))
    }
}
