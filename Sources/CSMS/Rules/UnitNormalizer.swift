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
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed.allSatisfy({ $0.isNumber || $0 == "." || $0 == "-" || $0 == "+" || $0 == "e" || $0 == "E" }) else { return nil }
        return Decimal(string: trimmed, locale: Locale(identifier: "en_US_POSIX"))
    }
}
