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

    /// Normalises `value unit` (with a 2.0.1 power-of-ten `multiplier`) to the stored unit.
    public static func normalize(value: Decimal, unit: String?, multiplier: Int = 0, measurand: String) -> (Decimal, String) {
        let unit = (unit?.isEmpty == false ? unit! : defaultUnit(for: measurand))
        var v = value
        if multiplier != 0 { v *= pow(Decimal(10), multiplier, signed: true) }
        switch unit {
        case "kWh": return (v * 1000, "Wh")
        case "kW": return (v * 1000, "W")
        case "kVA": return (v * 1000, "VA")
        case "kvar": return (v * 1000, "var")
        case "kvarh": return (v * 1000, "varh")
        case "Celcius": return (v, "Celsius")  // the 1.6 schema's spelling
        default: return (v, unit)
        }
    }

    private static func pow(_ base: Decimal, _ exponent: Int, signed: Bool) -> Decimal {
        var result = Decimal(1)
        for _ in 0..<abs(exponent) { result *= base }
        return exponent < 0 ? 1 / result : result
    }

    /// Parses a decimal number as OCPP 1.6 sends it in `sampledValue.value`.
    public static func parseDecimal(_ text: String) -> Decimal? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed.allSatisfy({ $0.isNumber || $0 == "." || $0 == "-" || $0 == "+" || $0 == "e" || $0 == "E" }) else { return nil }
        return Decimal(string: trimmed, locale: Locale(identifier: "en_US_POSIX"))
    }
}
